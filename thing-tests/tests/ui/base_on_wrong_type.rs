use thing::Thing;

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: i64,
    email: String,
}

fn main() {}
