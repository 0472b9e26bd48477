use thing::Thing;

#[derive(Thing, Default)]
struct User {
    email: String,
    age: i32,
}

fn main() {}
