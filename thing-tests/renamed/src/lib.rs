//! Models deriving `Thing` in a crate that depends on Thing only under another
//! name (`orm`), so that `::thing` does not exist here: they compile only
//! because `#[thing(crate = "orm")]` names the runtime crate.

use orm::{BaseModel, BelongsTo, HasMany, ManyToMany, Thing};

/// A model with a base, a JSON column, a version and every kind of relation.
#[derive(Thing, Debug, Clone, Default)]
#[thing(crate = "orm", table = "authors")]
pub struct Author {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub name: String,
    #[thing(json)]
    pub tags: Vec<String>,
    #[thing(version)]
    pub version: i64,
    #[thing(has_many(Book, fk = "author_id"))]
    pub books: HasMany<Book>,
    #[thing(many_to_many(Genre, join = "author_genres", fk = "author_id", other_fk = "genre_id"))]
    pub genres: ManyToMany<Genre>,
}

/// A model with a plain id, on the other side of `Author::BOOKS`.
#[derive(Thing, Debug, Clone, Default)]
#[thing(crate = "orm")]
pub struct Book {
    pub id: i64,
    #[thing(index)]
    pub author_id: i64,
    pub title: String,
    #[thing(belongs_to(Author, fk = "author_id"))]
    pub author: BelongsTo<Author>,
}

/// The other side of `Author::GENRES`.
#[derive(Thing, Debug, Clone, Default)]
#[thing(crate = "orm")]
pub struct Genre {
    pub id: i64,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::{Author, Book, Genre};
    use orm::{Db, Thing};

    #[tokio::test]
    async fn models_round_trip_through_the_renamed_crate() -> orm::Result<()> {
        let db = Db::connect("sqlite::memory:").await?;
        db.create_table::<Author>().await?;
        db.create_table::<Book>().await?;
        db.create_table::<Genre>().await?;

        let mut author = Author {
            name: "Ann".into(),
            tags: vec!["poetry".into()],
            ..Default::default()
        };
        author.save(&db).await?;
        let mut book = Book {
            author_id: author.base.id,
            title: "Verses".into(),
            ..Default::default()
        };
        book.save(&db).await?;
        let mut genre = Genre {
            name: "lyric".into(),
            ..Default::default()
        };
        genre.save(&db).await?;
        Author::GENRES.link(&db, &author, &genre).await?;

        let mut again = Author::by_id(&db, author.base.id).await?;
        assert_eq!(again.name, "Ann");
        assert_eq!(again.tags, ["poetry"]);
        assert_eq!(again.version, author.version);
        let titles: Vec<_> = again
            .load_books(&db)
            .await?
            .iter()
            .map(|book| book.title.clone())
            .collect();
        assert_eq!(titles, ["Verses"]);
        let genres: Vec<_> = again
            .load_genres(&db)
            .await?
            .iter()
            .map(|genre| genre.name.clone())
            .collect();
        assert_eq!(genres, ["lyric"]);

        let mut book = Book::by_id(&db, book.id).await?;
        assert_eq!(book.title, "Verses");
        let by = book
            .load_author(&db)
            .await?
            .map(|author| author.name.clone());
        assert_eq!(by.as_deref(), Some("Ann"));
        Ok(())
    }
}
