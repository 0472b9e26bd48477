use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
#[thing(hooks)]
struct Account {
    #[thing(base)]
    base: BaseModel,
    email: String,
}

fn main() {}
