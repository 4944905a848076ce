//! Reading one page of any query, with the total count lists answer with.

use confab_core::{Page, PageRequest};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QuerySelect, Select};

/// The rows of `query` (ordered by the caller) on `page`, and how many rows it has in all.
pub async fn fetch_page<E: EntityTrait>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    page: PageRequest,
) -> Result<Page<E::Model>, DbErr>
where
    E::Model: Sync,
{
    let total = query.clone().count(db).await?;
    let items = query
        .offset(page.offset())
        .limit(page.page_size())
        .all(db)
        .await?;
    Ok(Page::new(items, total, page))
}
