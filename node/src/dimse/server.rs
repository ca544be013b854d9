//! (in progress)
pub async fn serve() {}
