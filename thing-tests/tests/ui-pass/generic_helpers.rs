//! Code generic over `T: Thing`, as users write it: every item of `Thing`
//! resolves without naming a trait (no collision with `Schema`'s).
use thing::{BaseModel, Db, Thing};

#[derive(Thing, Debug, Clone, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    name: String,
}

fn ids<T: Thing>(rows: &[T]) -> Vec<i64> {
    rows.iter().map(|row| row.id()).collect()
}

fn table<T: Thing>() -> &'static str {
    T::TABLE
}

fn column_names<T: Thing>() -> Vec<&'static str> {
    T::COLUMNS.iter().map(|column| column.name).collect()
}

fn copy<T: Thing>(row: &T) -> Option<T> {
    T::decode_row(&row.encode_row())
}

fn hashes<T: Thing>() -> (u64, usize) {
    (T::SCHEMA_HASH, T::META.id)
}

async fn load<T: Thing>(db: &Db, ids: &[i64]) -> thing::Result<Vec<T>> {
    T::by_ids(db, ids).await
}

async fn save_all<T: Thing>(db: &Db, rows: &mut [T]) -> thing::Result<()> {
    T::save_many(db, rows).await
}

fn main() {
    let user = User { name: "ann".into(), ..Default::default() };
    assert_eq!(ids(std::slice::from_ref(&user)), vec![0]);
    assert_eq!(user.id(), 0);
    assert_eq!(table::<User>(), "users");
    assert_eq!(User::TABLE, "users");
    assert!(column_names::<User>().contains(&"name"));
    assert_eq!(copy(&user).map(|copy| copy.name), Some("ann".to_string()));
    let _ = hashes::<User>();
    let _ = load::<User>;
    let _ = save_all::<User>;
}
