use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Point {
    #[thing(base)]
    base: BaseModel,
    xy: (i32, i32),
}

fn main() {}
