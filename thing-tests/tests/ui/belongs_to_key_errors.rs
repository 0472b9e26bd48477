use thing::{BaseModel, BelongsTo, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
}

#[derive(Thing, Default)]
struct Post {
    #[thing(base)]
    base: BaseModel,
    #[thing(belongs_to(User, fk = "author_id"))]
    author: BelongsTo<User>,
    #[thing(index)]
    editor: String,
    #[thing(belongs_to(User, fk = "editor"))]
    edited_by: BelongsTo<User>,
    reviewer_id: i64,
    #[thing(belongs_to(User, fk = "reviewer_id"))]
    reviewer: BelongsTo<User>,
}

fn main() {}
