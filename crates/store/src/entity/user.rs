use sea_orm::entity::prelude::*;

/// An account. `username_key` and `email_key` are the lower-cased forms that uniqueness and
/// look-ups use, so "Alice" and "alice" are one name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub username: String,
    #[sea_orm(unique)]
    pub username_key: String,
    pub email: Option<String>,
    #[sea_orm(unique)]
    pub email_key: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub status: String,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub email_verified_at: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    pub last_login_ip: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
