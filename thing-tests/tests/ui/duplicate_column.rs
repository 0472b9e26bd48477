use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(column = "mail")]
    email: String,
    #[thing(column = "mail")]
    backup_email: String,
}

fn main() {}
