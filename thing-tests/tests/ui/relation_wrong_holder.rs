use thing::{BaseModel, Thing};

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
    #[thing(has_many(Post, fk = "user_id"))]
    posts: Vec<Post>,
}

fn main() {}
