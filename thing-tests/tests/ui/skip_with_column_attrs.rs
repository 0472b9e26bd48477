use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(skip, index)]
    scratch: String,
}

fn main() {}
