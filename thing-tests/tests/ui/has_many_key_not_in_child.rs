use thing::{BaseModel, HasMany, Thing};

#[derive(Thing, Default)]
struct Post {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    user_id: i64,
}

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(has_many(Post, fk = "owner_id"))]
    posts: HasMany<Post>,
}

fn main() {}
