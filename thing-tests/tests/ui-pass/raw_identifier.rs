//! Raw identifiers: `r#type` is the column `type` and the handle `TYPE`.

use thing::{BaseModel, Column, Thing};

#[derive(Thing, Default)]
#[thing(table = "events")]
struct Event {
    #[thing(base)]
    base: BaseModel,
    r#type: String,
    #[thing(column = "matched")]
    r#match: Option<i32>,
    r#loop: bool,
}

fn main() {
    assert_eq!(Event::TABLE, "events");
    let names: Vec<&str> = Event::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "id",
            "created_at",
            "updated_at",
            "deleted",
            "type",
            "matched",
            "loop"
        ]
    );
    let kind: Column<Event, String> = Event::TYPE;
    assert_eq!((kind.name(), kind.index()), ("type", 4));
    let matched: Column<Event, Option<i32>> = Event::MATCH;
    assert_eq!(matched.name(), "matched");
    assert_eq!(Event::LOOP.name(), "loop");

    let event = Event {
        r#type: "click".into(),
        r#loop: true,
        ..Default::default()
    };
    let decoded = Event::decode_row(&event.encode_row()).expect("row decodes");
    assert_eq!(
        (decoded.r#type.as_str(), decoded.r#match, decoded.r#loop),
        ("click", None, true)
    );
}
