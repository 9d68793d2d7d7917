//! Network commands: create, ls, inspect, rm, prune, connect, disconnect.

use super::image::{deleted_lines, filters_of, prune, query_filters};
use crate::format::json::indent;
use crate::format::template::Template;
use crate::format::{row, RowFormat};
use crate::{App, CliError};
use berth_api_types::network::{
    Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneReport,
};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

pub async fn run(app: &App, c: NetworkCommand) -> Result<(), CliError> {
    match c {
        NetworkCommand::Create(a) => run_create(app, a).await,
        NetworkCommand::Ls(a) => run_list(app, a).await,
        NetworkCommand::Inspect(a) => run_inspect(app, a).await,
        NetworkCommand::Rm(a) => run_remove(app, a).await,
        NetworkCommand::Prune(a) => run_prune(app, a).await,
        NetworkCommand::Connect(a) => run_connect(app, a).await,
        NetworkCommand::Disconnect(a) => run_disconnect(app, a).await,
    }
}

/// `key=value` flags (`--label`, `--opt`) as a map; a bare key has an
/// empty value, as docker's.
pub(crate) fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// NETWORK
    pub name: String,
}

/// Pairs `--subnet`s with the `--gateway`s and `--ip-range`s inside them,
/// as docker's CLI does.
fn ipam_configs(a: &CreateArgs) -> Result<Vec<IpamConfig>, CliError> {
    let inside = |subnet: &str, addr: &str| -> bool {
        let (net, bits) = subnet.split_once('/').unwrap_or((subnet, "32"));
        let addr = addr.split('/').next().unwrap_or(addr);
        match (
            net.parse::<std::net::IpAddr>(),
            addr.parse::<std::net::IpAddr>(),
            bits.parse::<u32>(),
        ) {
            (Ok(std::net::IpAddr::V4(n)), Ok(std::net::IpAddr::V4(x)), Ok(b)) if b <= 32 => {
                let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
                u32::from(n) & mask == u32::from(x) & mask
            }
            (Ok(std::net::IpAddr::V6(n)), Ok(std::net::IpAddr::V6(x)), Ok(b)) if b <= 128 => {
                let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
                u128::from(n) & mask == u128::from(x) & mask
            }
            _ => false,
        }
    };
    let mut out: Vec<IpamConfig> = a
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        })
        .collect();
    for (what, list) in [("gateway", &a.gateway), ("ip-range", &a.ip_range)] {
        for v in list {
            let c = out
                .iter_mut()
                .find(|c| inside(&c.subnet, v))
                .ok_or_else(|| CliError::new(format!("no matching subnet for {what} {v}")))?;
            let slot = if what == "gateway" {
                &mut c.gateway
            } else {
                &mut c.ip_range
            };
            if !slot.is_empty() {
                return Err(CliError::new(format!(
                    "cannot configure multiple {what}s for the same subnet"
                )));
            }
            *slot = v.clone();
        }
    }
    Ok(out)
}

pub async fn run_create(app: &App, a: CreateArgs) -> Result<(), CliError> {
    let config = ipam_configs(&a)?;
    let req = NetworkCreateRequest {
        name: a.name.clone(),
        driver: a.driver.clone(),
        check_duplicate: Some(true),
        internal: a.internal,
        attachable: a.attachable,
        enable_ipv6: a.ipv6,
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: None,
            config: Some(config),
        }),
        options: Some(key_values(&a.opt)),
        labels: Some(key_values(&a.label)),
    };
    let r: NetworkCreateResponse = app
        .client
        .send_json(Method::POST, "/networks/create", &[], Some(&req))
        .await?;
    app.print(&format!("{}\n", r.id))
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE',
    /// 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
}

const NETWORK_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

fn labels_text(l: &BTreeMap<String, String>) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn network_row(n: &Network, trunc: bool) -> Value {
    row(&[
        (
            "ID",
            if trunc {
                n.id.chars().take(12).collect()
            } else {
                n.id.clone()
            },
        ),
        ("Name", n.name.clone()),
        ("Driver", n.driver.clone()),
        ("Scope", n.scope.clone()),
        ("IPv4", n.enable_ipv4.to_string()),
        ("IPv6", n.enable_ipv6.to_string()),
        ("Internal", n.internal.to_string()),
        ("Labels", labels_text(&n.labels)),
        ("CreatedAt", n.created.clone()),
    ])
}

pub async fn run_list(app: &App, a: ListArgs) -> Result<(), CliError> {
    let f = filters_of(&a.filter)?;
    let mut nets: Vec<Network> = app.client.get_json("/networks", &query_filters(&f)).await?;
    nets.sort_by(|x, y| x.name.cmp(&y.name));
    let format = if a.quiet {
        "{{.ID}}".to_owned()
    } else {
        a.format
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into())
    };
    let rows: Vec<Value> = nets.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    app.print(&RowFormat::new(&format, NETWORK_HEADERS)?.render(&rows)?)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    pub verbose: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Prints objects as `inspect` does: an indented JSON array, or one
/// rendered template per object. Errors (one per name) come after.
pub(crate) fn print_inspected(
    app: &App,
    format: Option<&str>,
    objects: &[Value],
    errors: Vec<String>,
) -> Result<(), CliError> {
    match format.filter(|f| !f.is_empty() && *f != "json") {
        None => {
            let joined = serde_json::to_string(objects)
                .map_err(|e| CliError::new(format!("encode: {e}")))?;
            app.print(&format!("{}\n", indent(&joined, "    ")))?;
        }
        Some(f) => app.print(&render_inspected(f, objects)?)?,
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(errors.join("\n")))
    }
}

/// `inspect --format`: the template (taken as written: unlike the list
/// commands, docker does not turn `\t` into a tab here) rendered once per
/// object, each on its line. As docker, a parse error exits 64 and a
/// failed execution is reported as a "template parsing error" too.
pub(crate) fn render_inspected(format: &str, objects: &[Value]) -> Result<String, CliError> {
    let t = Template::parse(format).map_err(|e| CliError {
        code: 64,
        message: e.to_string(),
    })?;
    let mut s = String::new();
    for v in objects {
        let text = t
            .render(v)
            .map_err(|e| CliError::new(format!("template parsing error: {e}")))?;
        s.push_str(&text);
        s.push('\n');
    }
    Ok(s)
}

/// `inspect` of each name at `path(name)`.
pub(crate) async fn inspect_each(
    app: &App,
    names: &[String],
    path: impl Fn(&str) -> String,
    format: Option<&str>,
) -> Result<(), CliError> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match app.client.get_json::<Value>(&path(name), &[]).await {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    print_inspected(app, format, &found, errors)
}

pub async fn run_inspect(app: &App, a: InspectArgs) -> Result<(), CliError> {
    inspect_each(
        app,
        &a.names,
        |n| format!("/networks/{n}"),
        a.format.as_deref(),
    )
    .await
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `DELETE path(name)` for each name, printing the names removed; with
/// `ignore_missing`, a missing one is no error.
pub(crate) async fn remove_each(
    app: &App,
    names: &[String],
    path: impl Fn(&str) -> String,
    query: &[(&str, String)],
    ignore_missing: bool,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in names {
        let r: Result<Value, _> = app
            .client
            .send_json(Method::DELETE, &path(name), query, None::<&()>)
            .await;
        match r {
            Ok(_) => app.print(&format!("{name}\n"))?,
            Err(e) if ignore_missing && e.to_string().contains("not found") => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(errors.join("\n")))
    }
}

pub async fn run_remove(app: &App, a: RemoveArgs) -> Result<(), CliError> {
    remove_each(app, &a.names, |n| format!("/networks/{n}"), &[], a.force).await
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub async fn run_prune(app: &App, a: PruneArgs) -> Result<(), CliError> {
    let f = filters_of(&a.filter)?;
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    let Some(r) = prune::<NetworkPruneReport>(app, "/networks/prune", &f, a.force, warning).await?
    else {
        return Ok(());
    };
    if let Some(names) = r.networks_deleted.filter(|d| !d.is_empty()) {
        // docker prints the list with Println: a blank line ends it.
        app.print(&format!("{}\n", deleted_lines("Deleted Networks:", &names)))?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Driver options for the network
    #[arg(long = "driver-opt")]
    pub driver_opt: Vec<String>,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

pub async fn run_connect(app: &App, a: ConnectArgs) -> Result<(), CliError> {
    let mut ep = json!({});
    if a.ip.is_some() || a.ip6.is_some() {
        ep["IPAMConfig"] = json!({
            "IPv4Address": a.ip.clone().unwrap_or_default(),
            "IPv6Address": a.ip6.clone().unwrap_or_default(),
        });
    }
    if !a.alias.is_empty() {
        ep["Aliases"] = json!(a.alias);
    }
    if !a.driver_opt.is_empty() {
        ep["DriverOpts"] = json!(key_values(&a.driver_opt));
    }
    let req = NetworkConnectRequest {
        container: a.container,
        endpoint_config: ep,
    };
    let _: Value = app
        .client
        .send_json(
            Method::POST,
            &format!("/networks/{}/connect", a.network),
            &[],
            Some(&req),
        )
        .await?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

pub async fn run_disconnect(app: &App, a: DisconnectArgs) -> Result<(), CliError> {
    let req = NetworkDisconnectRequest {
        container: a.container,
        force: a.force,
    };
    let _: Value = app
        .client
        .send_json(
            Method::POST,
            &format!("/networks/{}/disconnect", a.network),
            &[],
            Some(&req),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_and_ranges_find_their_subnet() {
        let a = CreateArgs {
            driver: "bridge".into(),
            subnet: vec!["10.5.0.0/16".into(), "fd00:5::/64".into()],
            gateway: vec!["fd00:5::1".into(), "10.5.0.254".into()],
            ip_range: vec!["10.5.1.0/24".into()],
            ipam_driver: "default".into(),
            internal: false,
            attachable: false,
            ipv6: Some(true),
            label: vec![],
            opt: vec![],
            name: "n".into(),
        };
        let c = ipam_configs(&a).unwrap();
        assert_eq!(c[0].gateway, "10.5.0.254");
        assert_eq!(c[0].ip_range, "10.5.1.0/24");
        assert_eq!(c[1].gateway, "fd00:5::1");
        let bad = CreateArgs {
            gateway: vec!["192.168.1.1".into()],
            ..a
        };
        assert!(ipam_configs(&bad).is_err());
        assert_eq!(
            key_values(&["a=b".into(), "c".into()]),
            BTreeMap::from([("a".into(), "b".into()), ("c".into(), String::new())])
        );
    }
}
