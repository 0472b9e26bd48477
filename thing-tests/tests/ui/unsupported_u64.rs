use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Counter {
    #[thing(base)]
    base: BaseModel,
    hits: u64,
}

fn main() {}
