use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User {
    base: BaseModel,
    email: String,
}

fn main() {}
