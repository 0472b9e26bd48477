use thing::Thing;

#[derive(Thing, Default)]
#[thing(crate = "not a path!")]
struct Malformed {
    id: i64,
}

#[derive(Thing, Default)]
#[thing(crate = "thing", crate = "::thing")]
struct Twice {
    id: i64,
}

fn main() {}
