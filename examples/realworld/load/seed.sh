#!/usr/bin/env bash
# Seeds a running app at $APIURL (default http://127.0.0.1:8080/api) with the
# load run's data: 20 users, 200 articles (10 each, 2 of 8 tags), each user
# following 5 others and favoriting 20 articles, 5 comments on each of the
# first 50 articles. Prints nothing; writes the tokens to $OUT/tokens and
# the slugs to $OUT/slugs.
set -euo pipefail
APIURL=${APIURL:-http://127.0.0.1:8080/api}
OUT=${OUT:-$(mktemp -d)}
post() { curl -sf -X "${3:-POST}" "$APIURL$1" -H 'content-type: application/json' ${TOKEN:+-H "Authorization: Token $TOKEN"} -d "$2"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
: > "$OUT/tokens"; : > "$OUT/slugs"
for u in $(seq 1 20); do
  TOKEN= post /users "{\"user\":{\"username\":\"user$u\",\"email\":\"user$u@example.com\",\"password\":\"password$u\"}}" \
    | json '["user"]["token"]' >> "$OUT/tokens"
done
mapfile -t tokens < "$OUT/tokens"
for u in $(seq 1 20); do
  TOKEN=${tokens[$((u - 1))]}
  for a in $(seq 1 10); do
    post /articles "{\"article\":{\"title\":\"Article $a by user $u\",\"description\":\"number $a\",\"body\":\"$(printf 'text %.0s' $(seq 1 50))\",\"tagList\":[\"tag$((a % 8))\",\"tag$(((a + u) % 8))\"]}}" \
      | json '["article"]["slug"]' >> "$OUT/slugs"
  done
done
mapfile -t slugs < "$OUT/slugs"
for u in $(seq 1 20); do
  TOKEN=${tokens[$((u - 1))]}
  for f in 1 2 3 4 5; do post "/profiles/user$(((u + f - 1) % 20 + 1))/follow" '{}' > /dev/null; done
  for n in $(seq 0 19); do post "/articles/${slugs[$(((u * 7 + n * 11) % 200))]}/favorite" '{}' > /dev/null; done
done
for s in $(seq 0 49); do
  for c in 1 2 3 4 5; do
    TOKEN=${tokens[$(((s + c) % 20))]} post "/articles/${slugs[$s]}/comments" "{\"comment\":{\"body\":\"comment $c\"}}" > /dev/null
  done
done
echo "$OUT"
