//! Models without `BaseModel`: a plain `id: i64`, with and without a `Snapshot`.

use thing::{Column, Snapshot, Thing};

#[derive(Thing, Debug, Clone, Default, PartialEq)]
struct Tag {
    id: i64,
    label: String,
    snapshot: Snapshot,
    deleted: bool,
}

#[derive(Thing, Default)]
struct Category {
    name: String,
    #[thing(unique)]
    id: i64,
}

fn main() {
    assert_eq!(Tag::TABLE, "tags");
    // The snapshot is bookkeeping, not a column.
    let names: Vec<&str> = Tag::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, ["id", "label", "deleted"]);
    // No BaseModel: no timestamps; a `deleted: bool` column still means soft delete.
    assert_eq!(
        Tag::META,
        thing::ModelMeta {
            id: 0,
            created_at: None,
            updated_at: None,
            deleted: Some(2),
            version: None,
        }
    );
    let label: Column<Tag, String> = Tag::LABEL;
    assert_eq!((label.name(), label.index()), ("label", 1));

    let mut tag = Tag {
        id: 3,
        label: "rust".into(),
        ..Default::default()
    };
    assert_eq!(tag.id(), 3);
    let decoded = Tag::decode_row(&tag.encode_row()).expect("row decodes");
    assert_eq!(decoded, tag);
    tag.deleted = true;
    assert_eq!(
        Tag::default().changed_columns(&tag),
        ["id", "label", "deleted"]
    );

    // The id need not come first; the default table name is a plural.
    assert_eq!(Category::TABLE, "categories");
    assert_eq!(
        Category::META,
        thing::ModelMeta {
            id: 1,
            created_at: None,
            updated_at: None,
            deleted: None,
            version: None,
        }
    );
    assert_eq!(Category::ID.index(), 1);
    assert!(Category::COLUMNS[1].unique);
    assert_eq!(
        Category {
            id: 9,
            ..Default::default()
        }
        .id(),
        9
    );
}
