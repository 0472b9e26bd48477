use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
enum Role {
    #[default]
    Reader,
    Admin(BaseModel),
}

fn main() {}
