use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Wrapper<T> {
    #[thing(base)]
    base: BaseModel,
    value: T,
}

fn main() {}
