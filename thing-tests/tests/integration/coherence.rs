//! The cache's promise under concurrency: two `Db` handles sharing one cache,
//! eight writers and eight readers, every row carrying a version that each write
//! bumps. A read that starts after a write returned must never see an older
//! version (or a row deleted before it started), a list must not hold a row
//! that left it before the read started, nor miss one that was in it all along;
//! and at the end every cached row and list, through both handles, equals the
//! database. Relations ride along: teams have their items (`has_many` on the
//! indexed `team`), items and tags are linked (`many_to_many`), writers link
//! and unlink their own items, and readers load both lazily and preloaded,
//! each checked the same way.
//!
//! Seeded: the seed of a failing run is printed; `THING_COHERENCE_SEED` replays
//! it, `THING_COHERENCE_OPS` changes the number of operations per task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use thing::{BaseModel, Db, HasMany, ManyToMany, Thing};
use thing_tests::{Backend, CacheKind, CacheTest, Rng};

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "coherence_items")]
struct Item {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    team: i64,
    score: i32,
    version: i64,
    #[thing(many_to_many(Tag, join = "coherence_item_tags", fk = "item_id", other_fk = "tag_id"))]
    tags: ManyToMany<Tag>,
}

/// The parent of the items whose `team` is its id.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "coherence_teams")]
struct Team {
    id: i64,
    #[thing(has_many(Item, fk = "team"))]
    items: HasMany<Item>,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "coherence_tags")]
struct Tag {
    id: i64,
    #[thing(many_to_many(
        Item,
        join = "coherence_item_tags",
        fk = "tag_id",
        other_fk = "item_id"
    ))]
    items: ManyToMany<Item>,
}

const WRITERS: u64 = 8;
const READERS: u64 = 8;
/// Teams have the ids 1 to `TEAMS` (the first rows of their table).
const TEAMS: i64 = 4;
/// Tags have the ids 1 to `TAGS`.
const TAGS: i64 = 3;
/// Rows each writer starts with.
const ROWS_PER_WRITER: usize = 6;
/// Cached ids per list: small, so pages past it are exercised too.
const LIST_WINDOW: usize = 8;
/// A version that means "deleted".
const GONE: i64 = i64::MAX;

/// What has committed, per row: the version (or `GONE`) and the team, and
/// whether a write to the row is under way.
#[derive(Default)]
struct Ledger {
    rows: Mutex<HashMap<i64, Arc<RowState>>>,
    violations: Mutex<Vec<String>>,
    reads: AtomicU64,
    writes: AtomicU64,
    /// Inserts begun and inserts recorded: a row between the two is in the
    /// database but not yet in `rows`.
    inserts_begun: AtomicU64,
    inserts_recorded: AtomicU64,
    /// Per (item, tag): linked, whether a link or unlink is under way, and how
    /// many times its state was set (so that linked-then-unlinked is seen).
    links: Mutex<HashMap<(i64, i64), LinkState>>,
}

#[derive(Default)]
struct RowState {
    /// `version << 8 | team`, or `GONE`: one atomic so a reader sees both at once.
    committed: AtomicI64,
    writing: AtomicBool,
}

fn pack(version: i64, team: i64) -> i64 {
    (version << 8) | team
}

fn unpack(packed: i64) -> (i64, i64) {
    if packed == GONE {
        (GONE, -1)
    } else {
        (packed >> 8, packed & 0xff)
    }
}

/// Every team, unloaded.
fn all_teams() -> Vec<Team> {
    (1..=TEAMS)
        .map(|id| Team {
            id,
            ..Default::default()
        })
        .collect()
}

/// Every tag, unloaded.
fn all_tags() -> Vec<Tag> {
    (1..=TAGS)
        .map(|id| Tag {
            id,
            ..Default::default()
        })
        .collect()
}

/// The ids of `rows`, in order.
fn item_ids(rows: &[Item]) -> Vec<i64> {
    rows.iter().map(|row| row.base.id).collect()
}

/// An item with only its id, to load its relations.
fn stub(id: i64) -> Item {
    let mut item = Item::default();
    item.base.id = id;
    item
}

/// A random team id.
fn any_team(rng: &mut Rng) -> i64 {
    1 + rng.below(TEAMS as u64) as i64
}

impl Ledger {
    fn state(&self, id: i64) -> Arc<RowState> {
        Arc::clone(self.rows.lock().unwrap().entry(id).or_default())
    }

    /// Records a row just inserted at version 1 of `team`: its state appears
    /// with that value at once, never as a default a reader could see first.
    fn record_insert(&self, id: i64, team: i64) {
        let state = RowState {
            committed: AtomicI64::new(pack(1, team)),
            writing: AtomicBool::new(false),
        };
        self.rows.lock().unwrap().insert(id, Arc::new(state));
    }

    fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.rows.lock().unwrap().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The committed (version, team) of every known row, as a read starting now
    /// must at least see.
    fn snapshot(&self) -> HashMap<i64, (i64, i64, bool)> {
        self.rows
            .lock()
            .unwrap()
            .iter()
            .map(|(&id, state)| {
                let (version, team) = unpack(state.committed.load(Ordering::SeqCst));
                (id, (version, team, state.writing.load(Ordering::SeqCst)))
            })
            .collect()
    }

    /// `(begun, recorded)` inserts: equal when none is under way.
    fn inserts(&self) -> (u64, u64) {
        (
            self.inserts_begun.load(Ordering::SeqCst),
            self.inserts_recorded.load(Ordering::SeqCst),
        )
    }

    fn links(&self) -> HashMap<(i64, i64), LinkState> {
        self.links.lock().unwrap().clone()
    }

    /// Records a link's state (linked, a write of it in progress), with one
    /// more change than before: a read during which the link was linked and
    /// unlinked again does not take it for untouched.
    fn set_link(&self, pair: (i64, i64), (linked, writing): (bool, bool)) {
        let mut links = self.links.lock().unwrap();
        let changes = links.get(&pair).map_or(0, |state| state.2) + 1;
        links.insert(pair, (linked, writing, changes));
    }

    fn violation(&self, message: String) {
        self.violations.lock().unwrap().push(message);
    }
}

/// A link's state in the ledger: linked, a write of it under way, and how many
/// times it was set.
type LinkState = (bool, bool, u64);

/// One writer: owns its rows, so it knows each one's version exactly.
async fn writer(db: Db, ledger: Arc<Ledger>, seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    let mut mine: Vec<Item> = Vec::new();
    for _ in 0..ROWS_PER_WRITER {
        mine.push(insert(&db, &ledger, &mut rng).await);
    }
    for _ in 0..ops {
        let at = rng.below(mine.len() as u64) as usize;
        let state = ledger.state(mine[at].base.id);
        state.writing.store(true, Ordering::SeqCst);
        match rng.below(12) {
            0..=4 => {
                let item = &mut mine[at];
                if rng.below(2) == 0 {
                    item.team = any_team(&mut rng);
                }
                item.score = rng.below(100) as i32;
                item.version += 1;
                item.save(&db).await.expect("save");
                state
                    .committed
                    .store(pack(item.version, item.team), Ordering::SeqCst);
            }
            5 => {
                let item = &mut mine[at];
                Item::incr(&db, item.base.id, Item::VERSION, 1)
                    .await
                    .expect("incr");
                item.version += 1;
                state
                    .committed
                    .store(pack(item.version, item.team), Ordering::SeqCst);
            }
            6 => {
                // An update by id, which guesses the row's team (the cached
                // row, else a SELECT) and guards its statement with it.
                let item = &mut mine[at];
                let (id, version) = (item.base.id, item.version + 1);
                let mut update = Item::update(id).set(Item::VERSION, version);
                let mut team = item.team;
                if rng.below(2) == 0 {
                    team = any_team(&mut rng);
                    update = update.set(Item::TEAM, team);
                }
                update.execute(&db).await.expect("update by id");
                state.committed.store(pack(version, team), Ordering::SeqCst);
                // The copy's snapshot is older than the row: read it again,
                // which must see this write.
                *item = Item::by_id(&db, id).await.expect("read after update");
                if (item.version, item.team) != (version, team) {
                    ledger.violation(format!(
                        "item {id}: updated to version {version} team {team}, read back {} {}",
                        item.version, item.team
                    ));
                }
            }
            7 => {
                mine[at].delete(&db).await.expect("soft delete");
                state.committed.store(GONE, Ordering::SeqCst);
                mine[at] = insert(&db, &ledger, &mut rng).await;
            }
            8 => {
                mine[at].delete_hard(&db).await.expect("hard delete");
                state.committed.store(GONE, Ordering::SeqCst);
                mine[at] = insert(&db, &ledger, &mut rng).await;
            }
            9 | 10 => {
                let tag = Tag {
                    id: 1 + rng.below(TAGS as u64) as i64,
                    ..Default::default()
                };
                let pair = (mine[at].base.id, tag.id);
                let linked = ledger.links().get(&pair).is_some_and(|state| state.0);
                ledger.set_link(pair, (linked, true));
                if rng.below(2) == 0 {
                    Item::TAGS.link(&db, &mine[at], &tag).await.expect("link");
                    ledger.set_link(pair, (true, false));
                } else {
                    Item::TAGS
                        .unlink(&db, &mine[at], &tag)
                        .await
                        .expect("unlink");
                    ledger.set_link(pair, (false, false));
                }
            }
            _ => {
                // Saves an unchanged copy: no SQL, nothing to invalidate.
                mine[at].save(&db).await.expect("no-op save");
            }
        }
        state.writing.store(false, Ordering::SeqCst);
        ledger.writes.fetch_add(1, Ordering::Relaxed);
    }
}

async fn insert(db: &Db, ledger: &Ledger, rng: &mut Rng) -> Item {
    ledger.inserts_begun.fetch_add(1, Ordering::SeqCst);
    let mut item = Item {
        team: any_team(rng),
        score: rng.below(100) as i32,
        version: 1,
        ..Default::default()
    };
    item.save(db).await.expect("insert");
    ledger.record_insert(item.base.id, item.team);
    ledger.inserts_recorded.fetch_add(1, Ordering::SeqCst);
    item
}

/// Checks rows a read returned against what had committed when it started.
fn check_rows(ledger: &Ledger, what: &str, before: &HashMap<i64, (i64, i64, bool)>, rows: &[Item]) {
    for row in rows {
        let Some(&(version, _, _)) = before.get(&row.base.id) else {
            continue; // inserted during the read
        };
        if version == GONE {
            ledger.violation(format!(
                "{what}: row {} was deleted before the read started, returned at v{}",
                row.base.id, row.version
            ));
        } else if row.version < version {
            ledger.violation(format!(
                "{what}: row {} at v{} after v{version} committed",
                row.base.id, row.version
            ));
        }
    }
}

/// Checks a list of team `team` (every matching row) against the rows whose
/// state no write touched during the read.
fn check_membership(
    ledger: &Ledger,
    what: &str,
    team: i64,
    before: &HashMap<i64, (i64, i64, bool)>,
    ids: &[i64],
) {
    let after = ledger.snapshot();
    let untouched = |id: &i64| match (before.get(id), after.get(id)) {
        (Some(b), Some(a)) => !b.2 && !a.2 && a.0 == b.0,
        _ => false,
    };
    for id in ids {
        if let Some(&(version, row_team, _)) = before.get(id)
            && untouched(id)
            && version != GONE
            && row_team != team
        {
            ledger.violation(format!(
                "{what}: row {id} (team {row_team} since before the read) listed in team {team}"
            ));
        }
    }
    for (id, &(version, row_team, _)) in before {
        if version != GONE && row_team == team && untouched(id) && !ids.contains(id) {
            ledger.violation(format!(
                "{what}: row {id} (team {team} since before the read, v{version}) missing"
            ));
        }
    }
}

fn team_query(team: i64) -> thing::Query<Item> {
    Item::query()
        .filter(Item::TEAM.eq(team))
        .order_by(Item::SCORE.desc())
}

/// One reader: random reads through either handle, each checked.
async fn reader(handles: [Db; 2], ledger: Arc<Ledger>, seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    for _ in 0..ops {
        let db = rng.pick(&handles);
        let ids = ledger.ids();
        if ids.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        let before = ledger.snapshot();
        let links = ledger.links();
        let team = any_team(&mut rng);
        match rng.below(11) {
            0 | 1 => {
                let id = *rng.pick(&ids);
                match Item::by_id(db, id).await {
                    Ok(row) => check_rows(&ledger, "by_id", &before, &[row]),
                    Err(err) if err.is_not_found() => {
                        let (version, _, writing) = before[&id];
                        let still = ledger.snapshot()[&id];
                        if version != GONE && !writing && !still.2 && still.0 == version {
                            ledger.violation(format!("by_id: live row {id} v{version} not found"));
                        }
                    }
                    Err(err) => panic!("by_id: {err}"),
                }
            }
            2 => {
                let wanted: Vec<i64> = (0..5).map(|_| *rng.pick(&ids)).collect();
                let rows = Item::by_ids(db, &wanted).await.expect("by_ids");
                check_rows(&ledger, "by_ids", &before, &rows);
            }
            3 => {
                let rows = team_query(team).all(db).await.expect("all");
                check_rows(&ledger, "all", &before, &rows);
                let ids = item_ids(&rows);
                check_membership(&ledger, "all", team, &before, &ids);
            }
            4 => {
                let ids = team_query(team).ids(db).await.expect("ids");
                check_membership(&ledger, "ids", team, &before, &ids);
            }
            5 => {
                let offset = rng.below(LIST_WINDOW as u64 * 2);
                let rows = team_query(team).fetch(db, offset, 4).await.expect("fetch");
                check_rows(&ledger, "fetch", &before, &rows);
                if let Some(row) = team_query(team).first(db).await.expect("first") {
                    check_rows(&ledger, "first", &before, &[row]);
                }
            }
            7 => {
                let mut parent = Team {
                    id: team,
                    ..Default::default()
                };
                let rows = Team::ITEMS.load(db, &mut parent).await.expect("load items");
                check_rows(&ledger, "team.load_items", &before, rows);
                let ids = item_ids(rows);
                check_membership(&ledger, "team.load_items", team, &before, &ids);
            }
            8 => {
                let mut teams = all_teams();
                thing::preload(db, &mut teams, &Team::ITEMS)
                    .await
                    .expect("preload items");
                for parent in &teams {
                    let rows = parent.items.get().expect("preloaded");
                    check_rows(&ledger, "preload team items", &before, rows);
                    let ids = item_ids(rows);
                    check_membership(&ledger, "preload team items", parent.id, &before, &ids);
                }
            }
            9 => {
                let mut item = stub(*rng.pick(&ids));
                let tags: Vec<i64> = Item::TAGS
                    .load(db, &mut item)
                    .await
                    .expect("load tags")
                    .iter()
                    .map(|tag| tag.id)
                    .collect();
                check_links(&ledger, &links, item.base.id, &tags);
            }
            10 => {
                let mut tags = all_tags();
                thing::preload(db, &mut tags, &Tag::ITEMS)
                    .await
                    .expect("preload tag items");
                for tag in &tags {
                    let rows = tag.items.get().expect("preloaded");
                    check_rows(&ledger, "preload tag items", &before, rows);
                    let listed = item_ids(rows);
                    check_tagged(&ledger, &links, &before, tag.id, &listed);
                }
            }
            _ => {
                let inserts = ledger.inserts();
                let count = team_query(team).count(db).await.expect("count");
                let after = ledger.snapshot();
                let no_insert = inserts.0 == inserts.1 && ledger.inserts() == inserts;
                // Only when no row that was or is in the team moved meanwhile.
                // (A row being written may be moving into the team.)
                let stable = after.iter().all(|(id, a)| match before.get(id) {
                    Some(b) if b.2 || a.2 => false,
                    Some(b) if b.1 == team || a.1 == team => a.0 == b.0,
                    Some(_) => true,
                    None => a.1 != team && !a.2,
                });
                let expected = before
                    .values()
                    .filter(|(version, row_team, _)| *version != GONE && *row_team == team)
                    .count() as u64;
                if no_insert && stable && count != expected {
                    ledger.violation(format!(
                        "count: team {team} counted {count}, {expected} rows all along"
                    ));
                }
            }
        }
        ledger.reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// Checks the tags loaded for `item` against the links no write touched
/// during the read: a linked pair is listed, an unlinked one is not.
fn check_links(ledger: &Ledger, before: &HashMap<(i64, i64), LinkState>, item: i64, tags: &[i64]) {
    let after = ledger.links();
    for tag in 1..=TAGS {
        let pair = (item, tag);
        let state = before.get(&pair).copied().unwrap_or_default();
        let untouched = !state.1 && after.get(&pair).copied().unwrap_or_default() == state;
        if untouched && state.0 != tags.contains(&tag) {
            ledger.violation(format!(
                "item.load_tags: item {item} tag {tag} linked = {} since before the read, listed = {}",
                state.0,
                tags.contains(&tag)
            ));
        }
    }
}

/// Checks the items loaded for `tag`: an item whose link and row no write
/// touched during the read is listed when linked and live, and only then.
fn check_tagged(
    ledger: &Ledger,
    links: &HashMap<(i64, i64), LinkState>,
    before: &HashMap<i64, (i64, i64, bool)>,
    tag: i64,
    listed: &[i64],
) {
    let (links_after, rows_after) = (ledger.links(), ledger.snapshot());
    for (&id, &(version, _, writing)) in before {
        let pair = (id, tag);
        let link = links.get(&pair).copied().unwrap_or_default();
        let untouched = !link.1
            && links_after.get(&pair).copied().unwrap_or_default() == link
            && !writing
            && rows_after
                .get(&id)
                .is_some_and(|after| !after.2 && after.0 == version);
        let expected = link.0 && version != GONE;
        if untouched && expected != listed.contains(&id) {
            ledger.violation(format!(
                "preload tag items: tag {tag} item {id} (linked {}, live {}) listed = {}",
                link.0,
                version != GONE,
                listed.contains(&id)
            ));
        }
    }
}

/// At the end: every row and list through every handle equals the database.
async fn check_final(handles: &[Db], truth: &Db, ledger: &Ledger) {
    let ids = ledger.ids();
    let expected: HashMap<i64, Item> = Item::by_ids(truth, &ids)
        .await
        .expect("uncached by_ids")
        .into_iter()
        .map(|row| (row.base.id, row))
        .collect();
    for (h, db) in handles.iter().enumerate() {
        for &id in &ids {
            let cached = Item::by_id(db, id).await.ok();
            let versions = (
                cached.as_ref().map(|row| (row.version, row.team)),
                expected.get(&id).map(|row| (row.version, row.team)),
            );
            if versions.0 != versions.1 {
                ledger.violation(format!(
                    "final: handle {h} row {id}: cached {:?}, database {:?}",
                    versions.0, versions.1
                ));
            }
        }
        for team in 0..TEAMS {
            let query = team_query(team);
            let cached: Vec<i64> = query.ids(db).await.expect("ids");
            let truth_ids: Vec<i64> = query.ids(truth).await.expect("uncached ids");
            if cached != truth_ids {
                ledger.violation(format!(
                    "final: handle {h} team {team}: cached list {cached:?}, database {truth_ids:?}"
                ));
            }
            let count = query.count(db).await.expect("count");
            if count != truth_ids.len() as u64 {
                ledger.violation(format!(
                    "final: handle {h} team {team}: cached count {count}, database {}",
                    truth_ids.len()
                ));
            }
            let page: Vec<i64> = query
                .fetch(db, 0, LIST_WINDOW as u64 + 4)
                .await
                .expect("fetch")
                .iter()
                .map(|row| row.base.id)
                .collect();
            let truth_page: Vec<i64> = truth_ids.iter().take(LIST_WINDOW + 4).copied().collect();
            if page != truth_page {
                ledger.violation(format!(
                    "final: handle {h} team {team}: cached page {page:?}, database {truth_page:?}"
                ));
            }
        }
        check_final_relations(h, db, truth, ledger, &ids).await;
    }
}

/// At the end: every relation, lazy and preloaded, through `db` equals the
/// database's.
async fn check_final_relations(h: usize, db: &Db, truth: &Db, ledger: &Ledger, ids: &[i64]) {
    let mut teams = all_teams();
    let mut truth_teams = teams.clone();
    thing::preload(db, &mut teams, &Team::ITEMS)
        .await
        .expect("preload");
    thing::preload(truth, &mut truth_teams, &Team::ITEMS)
        .await
        .expect("preload");
    for (cached, truth_team) in teams.iter_mut().zip(&truth_teams) {
        let expected = item_ids(truth_team.items.get().unwrap());
        let preloaded = item_ids(cached.items.get().unwrap());
        let lazy = item_ids(cached.load_items(db).await.expect("load"));
        if preloaded != expected || lazy != expected {
            ledger.violation(format!(
                "final: handle {h} team {}: preloaded {preloaded:?}, lazy {lazy:?}, database {expected:?}",
                cached.id
            ));
        }
    }
    for &id in ids {
        let (mut cached, mut expected) = (stub(id), stub(id));
        let tags: Vec<i64> = cached
            .load_tags(db)
            .await
            .expect("tags")
            .iter()
            .map(|tag| tag.id)
            .collect();
        let truth_tags: Vec<i64> = expected
            .load_tags(truth)
            .await
            .expect("tags")
            .iter()
            .map(|tag| tag.id)
            .collect();
        if tags != truth_tags {
            ledger.violation(format!(
                "final: handle {h} item {id}: tags {tags:?}, database {truth_tags:?}"
            ));
        }
    }
    let mut tags = all_tags();
    let mut truth_tags = tags.clone();
    thing::preload(db, &mut tags, &Tag::ITEMS)
        .await
        .expect("preload");
    thing::preload(truth, &mut truth_tags, &Tag::ITEMS)
        .await
        .expect("preload");
    for (cached, expected) in tags.iter().zip(&truth_tags) {
        let ids = |tag: &Tag| -> Vec<i64> { item_ids(tag.items.get().unwrap()) };
        if ids(cached) != ids(expected) {
            ledger.violation(format!(
                "final: handle {h} tag {}: items {:?}, database {:?}",
                cached.id,
                ids(cached),
                ids(expected)
            ));
        }
    }
}

fn seed() -> u64 {
    std::env::var("THING_COHERENCE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |elapsed| elapsed.as_nanos() as u64)
                | 1
        })
}

fn ops_per_task() -> usize {
    std::env::var("THING_COHERENCE_OPS")
        .ok()
        .and_then(|ops| ops.parse().ok())
        .unwrap_or(700)
}

async fn stress(backend: Backend, kind: Option<CacheKind>, sqlite_journal: Option<&str>) {
    let cached = kind.is_some();
    let kind = kind.unwrap_or(CacheKind::Memory);
    let Some(test) = CacheTest::new(backend, kind).await else {
        return;
    };
    if let Some(mode) = sqlite_journal {
        test.t.raw(&format!("PRAGMA journal_mode = {mode}")).await;
    }
    let seed = seed();
    let ops = ops_per_task();
    let handle = || {
        test.handle_with(move |builder| {
            let builder = builder.list_window(LIST_WINDOW).max_connections(8);
            if cached { builder } else { builder.no_cache() }
        })
    };
    let (a, b) = (handle().await, handle().await);
    let truth = Db::builder(&test.t.url).no_cache().build().await.unwrap();
    a.create_table::<Item>().await.unwrap();
    a.create_table::<Team>().await.unwrap();
    a.create_table::<Tag>().await.unwrap();
    let mut teams: Vec<Team> = (0..TEAMS).map(|_| Team::default()).collect();
    Team::save_many(&a, &mut teams).await.unwrap();
    let mut tags: Vec<Tag> = (0..TAGS).map(|_| Tag::default()).collect();
    Tag::save_many(&a, &mut tags).await.unwrap();
    assert_eq!(
        teams.iter().map(|team| team.id).collect::<Vec<_>>(),
        (1..=TEAMS).collect::<Vec<_>>()
    );
    assert_eq!(
        tags.iter().map(|tag| tag.id).collect::<Vec<_>>(),
        (1..=TAGS).collect::<Vec<_>>()
    );

    let ledger = Arc::new(Ledger::default());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(writer(
            db,
            Arc::clone(&ledger),
            seed ^ ((w + 1) * 0x9e37),
            ops,
        )));
    }
    for r in 0..READERS {
        let handles = [a.clone(), b.clone()];
        let seed = seed ^ ((r + 101) * 0x85eb);
        tasks.push(tokio::spawn(reader(
            handles,
            Arc::clone(&ledger),
            seed,
            ops,
        )));
    }
    for task in tasks {
        task.await.expect("a task panicked");
    }
    check_final(&[a.clone(), b.clone()], &truth, &ledger).await;

    let violations = ledger.violations.lock().unwrap().clone();
    let (reads, writes) = (
        ledger.reads.load(Ordering::Relaxed),
        ledger.writes.load(Ordering::Relaxed),
    );
    drop((a, b, truth));
    test.finish().await;
    assert!(
        violations.is_empty(),
        "{backend:?}/{:?}/{sqlite_journal:?}: {} violation(s) in {reads} reads and \
         {writes} writes; replay with THING_COHERENCE_SEED={seed}:\n{}",
        cached.then_some(kind),
        violations.len(),
        violations
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

macro_rules! stress_tests {
    ($($name:ident: $backend:ident, $kind:expr, $journal:expr;)*) => {
        $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            stress(Backend::$backend, $kind, $journal).await;
        })*
    };
}

stress_tests! {
    sqlite_wal_memory: Sqlite, Some(CacheKind::Memory), Some("WAL");
    sqlite_wal_redis: Sqlite, Some(CacheKind::Redis), Some("WAL");
    sqlite_delete_journal_memory: Sqlite, Some(CacheKind::Memory), Some("DELETE");
    sqlite_delete_journal_redis: Sqlite, Some(CacheKind::Redis), Some("DELETE");
    postgres_memory: Postgres, Some(CacheKind::Memory), None;
    postgres_redis: Postgres, Some(CacheKind::Redis), None;
    mysql_memory: MySql, Some(CacheKind::Memory), None;
    mysql_redis: MySql, Some(CacheKind::Redis), None;
    sqlite_wal_near: Sqlite, Some(CacheKind::Near), Some("WAL");
    postgres_near: Postgres, Some(CacheKind::Near), None;
    mysql_near: MySql, Some(CacheKind::Near), None;
    // The checker itself: with no cache, it must find nothing.
    sqlite_wal_no_cache: Sqlite, None, Some("WAL");
    postgres_no_cache: Postgres, None, None;
    mysql_no_cache: MySql, None, None;
}
