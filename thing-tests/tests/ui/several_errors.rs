use thing::{BaseModel, Thing};

// Every problem is reported in one go, not only the first.
#[derive(Thing, Default)]
#[thing(table = "user list")]
struct User {
    #[thing(primary)]
    key: i64,
    hits: u64,
    #[thing(column = "1st_name")]
    first_name: String,
    aliases: Vec<String>,
    #[thing(column = "hits")]
    visits: i32,
    base: BaseModel,
}

fn main() {}
