use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Post {
    #[thing(base)]
    base: BaseModel,
    tags: Vec<String>,
}

fn main() {}
