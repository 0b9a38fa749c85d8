//! The broker's shared state (from stage ea7): its configuration and its log. One `Broker` is
//! shared by every connection thread; everything inside does its own fine-grained
//! locking.

use crate::config::Config;
use std::io;
//> ea7
use crate::log::Log;
//< ea7
//> clients
use crate::limits::Limits;
use crate::wire::Uuid;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
//< clients

pub struct Broker {
    pub config: Config,
    pub log: Log, //> ea7
    //> clients
    /// Host and port told to clients in Metadata and FindCoordinator.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// The cluster id, from `meta.properties` when there is one.
    pub cluster_id: String,
    /// The next producer id handed out by InitProducerId.
    next_producer_id: AtomicI64,
    /// Connections, idle time and bytes of requests in flight.
    pub limits: Limits,
    //< clients
    /// Consumer groups and their committed offsets.
    pub groups: crate::group::Coordinator, //> groups
    /// Transactional ids and their transactions.
    pub transactions: crate::txn::Coordinator, //> transactions
}

impl Broker {
    /// Opens the broker: this loads the log from `log.dirs` when it is set.
    //> clients
    /// `bound_port` is the port the listener actually got, advertised unless
    /// `advertised.listeners` says otherwise.
    //< clients
    pub fn open(
        config: Config,
        bound_port: u16, //> clients
    ) -> io::Result<Broker> {
        //> ea7
        let log = config.log_dir.as_deref().map_or_else(|| Ok(Log::in_memory()), Log::open)?;
        //< ea7
        //> clients
        let log = log.with_max_partitions(config.max_partitions);
        let log = log.with_retention(&config); //> retention
        let (advertised_host, advertised_port) = match &config.advertised {
            Some((host, port)) => (host.clone(), *port),
            None => {
                let host = config.bind.rsplit_once(':').map_or("", |(h, _)| h).trim_matches(['[', ']']);
                // 0.0.0.0 means "every interface": not an address a client can connect to.
                let host = if host.is_empty() || host == "0.0.0.0" || host == "::" { "localhost" } else { host };
                (host.to_string(), bound_port)
            }
        };
        let cluster_id = config
            .log_dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join("meta.properties")).ok())
            .and_then(|text| text.lines().find_map(|l| l.strip_prefix("cluster.id=").map(|v| v.trim().to_string())))
            .unwrap_or_else(|| Uuid::random().to_kafka_string());
        // Producer ids in the log come from clients' batches, so guard against one near i64::MAX.
        let next_producer_id = AtomicI64::new(log.max_producer_id().saturating_add(1).max(0));
        // A request must fit in the bytes in flight, or it could never be read.
        let in_flight = config.queued_max_request_bytes.max(config.socket_request_max_bytes);
        let idle = Duration::from_millis(config.connections_max_idle_ms);
        let limits = Limits::new(config.max_connections, idle, in_flight);
        //< clients
        let groups = crate::group::Coordinator::open(&config)?; //> groups
        let saved = groups.store().map(|store| store.transactions()).unwrap_or_default(); //> transactions
        let transactions = crate::txn::Coordinator::new(&config, saved)?; //> transactions
        next_producer_id.fetch_max(transactions.max_producer_id().saturating_add(1), Ordering::Relaxed); //> transactions
        Ok(Broker {
            config,
            log, //> ea7
            //> clients
            advertised_host,
            advertised_port,
            cluster_id,
            next_producer_id,
            limits,
            //< clients
            groups,       //> groups
            transactions, //> transactions
        })
    }
    //> clients

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// A producer id never handed out before by this log.
    pub fn new_producer_id(&self) -> i64 {
        // Saturates instead of wrapping to negative ids (which would switch idempotence off).
        let next =
            self.next_producer_id.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| Some(id.saturating_add(1)));
        next.unwrap_or(i64::MAX)
    }
    //< clients
}
