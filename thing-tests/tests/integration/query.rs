//! List queries against a plain SQL oracle: random rows, random filters, on every
//! backend. The same filter is built through Thing's typed API and as hand-written
//! SQL; both must select the same rows in the same order.

use thing::{Db, Filter, Thing};
use thing_tests::models::Item;
use thing_tests::{Backend, Rng, TestDb, backend_tests, cache_tests};

const NAMES: &[&str] = &["ann", "Ann", "bob", "a_b", "a%b", "", "abe", "ANNA", "b"];
const TAGS: &[&str] = &["red", "blue", "re", "x_y"];
const PATTERNS: &[&str] = &[
    "a%", "A%", "%b", "a\\_b", "a\\%b", "_", "%", "a_b", "%n%", "",
];

fn random_item(rng: &mut Rng) -> Item {
    Item {
        name: rng.pick(NAMES).to_string(),
        age: rng.below(6) as i32 - 1,
        rank: (rng.below(3) > 0).then(|| rng.below(5) as i64),
        tag: (rng.below(3) > 0).then(|| rng.pick(TAGS).to_string()),
        active: rng.below(2) == 0,
        ..Default::default()
    }
}

/// A condition as Thing's filter and as the oracle's SQL (literals inlined).
struct Cond {
    filter: Filter<Item>,
    sql: String,
}

fn quote(text: &str, backend: Backend) -> String {
    let escaped = text.replace('\'', "''");
    match backend {
        // MySQL reads backslashes in literals as escapes.
        Backend::MySql => format!("'{}'", escaped.replace('\\', "\\\\")),
        _ => format!("'{escaped}'"),
    }
}

fn random_cond(rng: &mut Rng, depth: u32, backend: Backend) -> Cond {
    let escape = if backend == Backend::MySql {
        "'\\\\'"
    } else {
        "'\\'"
    };
    let leaf = depth == 0 || rng.below(3) == 0;
    if leaf {
        let n = rng.below(5) as i32 - 1;
        return match rng.below(13) {
            0 => Cond {
                filter: Item::AGE.eq(n),
                sql: format!("age = {n}"),
            },
            1 => Cond {
                filter: Item::AGE.ne(n),
                sql: format!("age <> {n}"),
            },
            2 => Cond {
                filter: Item::AGE.gt(n),
                sql: format!("age > {n}"),
            },
            3 => Cond {
                filter: Item::AGE.le(n),
                sql: format!("age <= {n}"),
            },
            4 => Cond {
                filter: Item::RANK.ge(i64::from(n)),
                sql: format!("rank >= {n}"),
            },
            5 => Cond {
                filter: Item::RANK.lt(i64::from(n)),
                sql: format!("rank < {n}"),
            },
            6 => Cond {
                filter: Item::RANK.is_null(),
                sql: "rank IS NULL".into(),
            },
            7 => Cond {
                filter: Item::TAG.is_not_null(),
                sql: "tag IS NOT NULL".into(),
            },
            8 => {
                let tag = rng.pick(TAGS);
                Cond {
                    filter: Item::TAG.ne(*tag),
                    sql: format!("tag <> {}", quote(tag, backend)),
                }
            }
            9 => {
                let pattern = rng.pick(PATTERNS);
                Cond {
                    filter: Item::NAME.like(*pattern),
                    sql: format!("name LIKE {} ESCAPE {escape}", quote(pattern, backend)),
                }
            }
            10 => {
                let names: Vec<&str> = (0..rng.below(3)).map(|_| *rng.pick(NAMES)).collect();
                let sql = if names.is_empty() {
                    "1 = 0".to_string()
                } else {
                    let list: Vec<String> = names.iter().map(|name| quote(name, backend)).collect();
                    format!("name IN ({})", list.join(", "))
                };
                Cond {
                    filter: Item::NAME.is_in(names),
                    sql,
                }
            }
            11 => {
                let ages: Vec<i32> = (0..rng.below(3)).map(|_| rng.below(5) as i32).collect();
                let sql = if ages.is_empty() {
                    "age IS NOT NULL".to_string()
                } else {
                    let list: Vec<String> = ages.iter().map(i32::to_string).collect();
                    format!("age NOT IN ({})", list.join(", "))
                };
                Cond {
                    filter: Item::AGE.not_in(ages),
                    sql,
                }
            }
            _ => {
                let active = rng.below(2) == 0;
                let literal = if active { "TRUE" } else { "FALSE" };
                Cond {
                    filter: Item::ACTIVE.eq(active),
                    sql: format!("active = {literal}"),
                }
            }
        };
    }
    let left = random_cond(rng, depth - 1, backend);
    match rng.below(3) {
        0 => {
            let right = random_cond(rng, depth - 1, backend);
            Cond {
                filter: left.filter & right.filter,
                sql: format!("({} AND {})", left.sql, right.sql),
            }
        }
        1 => {
            let right = random_cond(rng, depth - 1, backend);
            Cond {
                filter: left.filter | right.filter,
                sql: format!("({} OR {})", left.sql, right.sql),
            }
        }
        _ => Cond {
            filter: !left.filter,
            sql: format!("NOT ({})", left.sql),
        },
    }
}

/// The oracle: ids selected by hand-written SQL, ordered by age desc, id.
async fn oracle_ids(t: &TestDb, condition: &str) -> Vec<i64> {
    use thing::sqlx::{self, AssertSqlSafe, Row};
    let sql = format!(
        "SELECT id FROM items WHERE ({condition}) AND deleted = FALSE ORDER BY age DESC, id ASC"
    );
    let db = &t.db;
    let rows: Vec<i64> = match t.backend {
        Backend::Sqlite => sqlx::query(AssertSqlSafe(sql))
            .fetch_all(db.as_sqlite().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Backend::Postgres => sqlx::query(AssertSqlSafe(sql))
            .fetch_all(db.as_postgres().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Backend::MySql => sqlx::query(AssertSqlSafe(sql))
            .fetch_all(db.as_mysql().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect(),
    };
    rows
}

async fn seeded(t: &TestDb, seed: u64) -> (Vec<Item>, Rng) {
    let db = &t.db;
    db.create_table::<Item>().await.unwrap();
    let mut rng = Rng(seed);
    let mut items: Vec<Item> = (0..60).map(|_| random_item(&mut rng)).collect();
    Item::save_many(db, &mut items).await.unwrap();
    // A few soft-deleted rows, which queries must leave out.
    for item in items.iter().step_by(7) {
        item.delete(db).await.unwrap();
    }
    (items, rng)
}

cache_tests! {
    async fn random_filters_select_what_sql_selects(c) {
        let t = &c.t;
        let seed = std::env::var("THING_QUERY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1234);
        let (_, mut rng) = seeded(t, seed).await;
        // Reads go through a handle with this test's cache (memory or Redis).
        let db: &Db = &c.handle().await;
        for round in 0..150 {
            let cond = random_cond(&mut rng, 3, t.backend);
            let expected = oracle_ids(t, &cond.sql).await;
            let query = Item::query().filter(cond.filter.clone()).order_by(Item::AGE.desc());
            for pass in ["miss", "hit"] {
                let got = query.ids(db).await.unwrap();
                assert_eq!(got, expected, "seed {seed:#x} round {round} ({pass}): {}", cond.sql);
                let rows: Vec<i64> = query.all(db).await.unwrap().iter().map(|item| item.base.id).collect();
                assert_eq!(rows, expected, "all() ({pass}): {}", cond.sql);
                assert_eq!(query.count(db).await.unwrap(), expected.len() as u64, "count() ({pass}): {}", cond.sql);
            }
        }
    }
}

backend_tests! {
    async fn pages_are_stable_and_complete(t) {
        let (_, _) = seeded(t, 7).await;
        let db: &Db = &t.db;
        let query = Item::query().filter(Item::AGE.ge(0)).order_by(Item::ACTIVE.asc()).order_by(Item::AGE.desc());
        let all = query.ids(db).await.unwrap();
        let mut paged = Vec::new();
        for page in 0.. {
            let rows = query.fetch(db, page * 7, 7).await.unwrap();
            if rows.is_empty() {
                break;
            }
            paged.extend(rows.iter().map(|item| item.base.id));
        }
        assert_eq!(paged, all);
        assert_eq!(query.first(db).await.unwrap().map(|item| item.base.id), all.first().copied());
        assert!(query.fetch(db, 0, 0).await.unwrap().is_empty());
    }

    async fn an_empty_in_sends_no_sql(t) {
        let (_, _) = seeded(t, 9).await;
        let db: &Db = &t.db;
        db.reset_stats();
        let none: Vec<String> = Vec::new();
        let query = Item::query().filter(Item::NAME.is_in(none) & Item::AGE.gt(0));
        assert!(query.all(db).await.unwrap().is_empty());
        assert_eq!(query.count(db).await.unwrap(), 0);
        assert!(query.ids(db).await.unwrap().is_empty());
        assert_eq!(db.stats().statements(), 0);
    }

    async fn include_deleted_and_raw_fragments(t) {
        let (items, _) = seeded(t, 11).await;
        let db: &Db = &t.db;
        let everything = Item::query().include_deleted().count(db).await.unwrap();
        assert_eq!(everything, items.len() as u64);
        assert_eq!(Item::query().count(db).await.unwrap(), items.len() as u64 - items.len().div_ceil(7) as u64);
        let raw = Item::query().where_raw("age + ? > ?", [1.into(), 3.into()]).order_by(Item::AGE.asc());
        let expected: Vec<i64> = Item::query().filter(Item::AGE.gt(2)).order_by(Item::AGE.asc()).ids(db).await.unwrap();
        assert_eq!(raw.ids(db).await.unwrap(), expected);
    }
}

backend_tests! {
    // `where_raw` binds exactly its arguments: as many `?` outside quotes as
    // arguments, or a typed error before any SQL; a `?` inside a string
    // literal or a quoted identifier is text.
    async fn where_raw_counts_its_placeholders(t) {
        let (_, _) = seeded(t, 11).await;
        let db: &Db = &t.db;
        for (sql, args) in [
            ("age > ? AND age < ?", vec![1.into()]),
            ("age > ?", vec![1.into(), 2.into()]),
        ] {
            db.reset_stats();
            let err = Item::query().where_raw(sql, args).count(db).await.unwrap_err();
            assert!(
                matches!(&err, thing::Error::InvalidInput(message) if message.contains("placeholder")),
                "{sql}: {err}"
            );
            assert_eq!(db.stats().statements(), 0, "nothing sent");
        }
        let quoted = Item::query().where_raw("(name = 'a?b' OR age > ?)", [1000.into()]);
        assert_eq!(quoted.count(db).await.unwrap(), 0, "the quoted `?` is text");
    }
}
