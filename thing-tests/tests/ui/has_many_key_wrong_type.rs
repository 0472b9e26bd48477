use thing::{BaseModel, HasMany, Thing};

#[derive(Thing, Default)]
struct Post {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    user_id: String,
}

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(has_many(Post, fk = "user_id"))]
    posts: HasMany<Post>,
}

fn main() {}
