use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
#[thing(tabel = "people")]
struct User {
    #[thing(base)]
    base: BaseModel,
    email: String,
}

fn main() {}
