use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Doc {
    #[thing(base)]
    base: BaseModel,
    #[thing(version)]
    version: i32,
}

fn main() {}
