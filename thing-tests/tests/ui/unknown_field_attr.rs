use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(indexx)]
    email: String,
}

fn main() {}
