use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    name: &'static str,
}

fn main() {}
