use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Doc {
    #[thing(base)]
    base: BaseModel,
    #[thing(version)]
    version: i64,
    #[thing(version)]
    revision: i64,
}

fn main() {}
