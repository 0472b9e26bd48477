use thing::{BaseModel, Thing};

#[derive(Thing, Default)]
struct Booking {
    #[thing(base)]
    base: BaseModel,
    table: i32,
    meta: String,
    #[thing(column = "columns")]
    column_list: String,
}

fn main() {}
