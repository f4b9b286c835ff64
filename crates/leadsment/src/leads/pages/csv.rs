//! `GET /w/{workspace_id}/sites/{site_id}/companies.csv`: the feed with the same filters, every
//! row, through the one formula-safe CSV writer, and a last line crediting the IP data.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::format::iso;
use super::{site_of, zone};
use crate::accounts::context::WorkspaceCtx;
use crate::csv_out::{Cell, CsvOut};
use crate::leads::LeadsState;
use crate::leads::feed::{self, Rows};
use crate::leads::filters::{self, RawFilters};
use crate::store::now_ms;
use crate::web::error::AppError;

pub const COLUMNS: [&str; 16] = [
    "company",
    "domain",
    "country",
    "class",
    "score",
    "last_visit",
    "visits",
    "visitors",
    "pageviews",
    "engaged_seconds",
    "top_pages",
    "first_source",
    "first_channel",
    "first_campaign",
    "company_id",
    "class_reason",
];

pub async fn download(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((_workspace_id, site_id)): Path<(i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let site = site_of(&ctx, site_id).await?;
    let tz = zone(&site);
    let now = now_ms();
    let raw = RawFilters::from_query(query.as_deref());
    let q = filters::parse(&raw, &tz, now).map_err(|errors| {
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        AppError::bad_request("invalid_filter", message).with_field(errors[0].field)
    })?;
    let feed = feed::feed(
        &state.accounts.db,
        &state.cache,
        site.id,
        &q,
        now,
        Rows::Every,
    )
    .await?;
    let mut out = CsvOut::new(Vec::new());
    let write = |out: &mut CsvOut<Vec<u8>>| -> csv::Result<()> {
        out.header(&COLUMNS)?;
        for r in feed.rows.iter().chain(&feed.hosting) {
            let top = r
                .top_pages
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let last = iso(&tz, r.last_visit_at);
            let first = r.first.as_ref();
            out.row([
                Cell::Text(Some(&r.name)),
                Cell::Text(r.domain.as_deref()),
                Cell::Text(r.country.as_deref()),
                Cell::Text(Some(&r.class)),
                Cell::Int(Some(i64::from(r.score.value))),
                Cell::Text(Some(&last)),
                Cell::Int(Some(r.visits)),
                Cell::Int(Some(r.visitors)),
                Cell::Int(Some(r.pageviews)),
                Cell::Int(Some(r.engaged_ms / 1000)),
                Cell::Text(Some(&top)),
                Cell::Text(first.and_then(|f| f.source.as_deref())),
                Cell::Text(first.map(|f| f.channel.as_str())),
                Cell::Text(first.and_then(|f| f.utm_campaign.as_deref())),
                Cell::Int(Some(r.company_id)),
                Cell::Text(r.class_reason.as_deref()),
            ])?;
        }
        let credit = state.credit_line();
        if !credit.is_empty() {
            let line = format!("Organisation data: {credit}");
            // As wide as the header: the writer refuses a shorter row (and so do strict
            // readers), which made every download with an IP index loaded a 500.
            let mut credit_row = vec![Cell::Text(None); COLUMNS.len()];
            credit_row[0] = Cell::Text(Some(&line));
            out.row(credit_row)?;
        }
        Ok(())
    };
    write(&mut out).map_err(AppError::internal)?;
    let body = out.into_inner().map_err(AppError::internal)?;
    let name = format!(
        "attachment; filename=\"companies-{}-{}.csv\"",
        site.domain.without_www(),
        q.period.first
    );
    Ok(crate::web::page::csv_download(&name, body))
}
