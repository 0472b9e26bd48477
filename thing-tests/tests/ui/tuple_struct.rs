use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User(BaseModel, String);

fn main() {}
