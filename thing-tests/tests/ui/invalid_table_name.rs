use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
#[thing(table = "users; drop")]
struct User {
    #[thing(base)]
    base: BaseModel,
    email: String,
}

fn main() {}
