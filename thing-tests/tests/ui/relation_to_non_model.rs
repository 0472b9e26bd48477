use thing::{BaseModel, HasMany, Thing};

#[derive(Debug, Default)]
struct Note {
    user_id: i64,
}

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(has_many(Note, fk = "user_id"))]
    notes: HasMany<Note>,
}

fn main() {}
