use thing::Thing;

#[derive(Thing, Default)]
struct User {
    id: String,
    email: String,
}

fn main() {}
