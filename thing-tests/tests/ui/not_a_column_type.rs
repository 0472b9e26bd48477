use thing::{BaseModel, Thing};

#[derive(Default)]
struct Address {
    street: String,
    city: String,
}

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    address: Address,
}

fn main() {}
