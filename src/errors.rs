//! Kafka's error codes: every response carries one per topic, partition or group, and a client
//! decides from it whether to retry, refresh its metadata or give up. Names and numbers are
//! Kafka's own (`org.apache.kafka.common.protocol.Errors`).

/// An error code as sent on the wire (INT16).
#[repr(i16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    None = 0,
    //> eg2
    /// The fetch offset is outside the partition's log.
    OffsetOutOfRange = 1,
    //< eg2
    //> zf2
    /// A damaged record batch: cut off, a bad length or magic, or (from ls8) a CRC mismatch.
    CorruptMessage = 2,
    //< zf2
    //> vt6
    /// The topic or partition does not exist on this broker.
    UnknownTopicOrPartition = 3,
    //< vt6
    //> clients
    /// A batch larger than `message.max.bytes`.
    MessageTooLarge = 10,
    //< clients
    //> groups
    /// Commit metadata longer than `offset.metadata.max.bytes` (4096).
    OffsetMetadataTooLarge = 12,
    /// The coordinator is not available.
    CoordinatorNotAvailable = 15,
    /// The request went to a broker that is not the group's coordinator.
    NotCoordinator = 16,
    //< groups
    //> clients
    /// A topic name that is empty, too long or has characters outside `[a-zA-Z0-9._-]`.
    InvalidTopicException = 17,
    /// acks other than 0, 1 or -1.
    InvalidRequiredAcks = 21,
    //< clients
    //> groups
    /// The member's generation is not the group's current one.
    IllegalGeneration = 22,
    /// The member supports none of the group's protocols.
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    /// The member id is not in the group.
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    /// The group is rebalancing: rejoin.
    RebalanceInProgress = 27,
    //< groups
    /// The broker does not support this version of the API.
    UnsupportedVersion = 35,
    //> clients
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    /// Replicas placed on brokers that do not exist.
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    /// The request is malformed in a way the schema cannot express.
    InvalidRequest = 42,
    /// An idempotent batch whose sequence number does not follow the last one.
    OutOfOrderSequenceNumber = 45,
    /// The producer's epoch is older than the current one: a newer instance fenced it.
    InvalidProducerEpoch = 47,
    //< clients
    //> transactions
    /// A transactional request that the transaction's state does not allow (e.g. EndTxn with
    /// nothing begun, or a batch for a partition the transaction did not add).
    InvalidTxnState = 48,
    /// The producer id is not the one the transactional id has now.
    InvalidProducerIdMapping = 49,
    /// A transaction timeout above `transaction.max.timeout.ms`.
    InvalidTransactionTimeout = 50,
    /// The transaction is ending (retry): here only while an end a storage error interrupted
    /// waits to be finished.
    ConcurrentTransactions = 51,
    //< transactions
    //> clients
    /*> clients < transactions
    /// Transactions are not supported by this broker.
     */
    //> transactions
    /// The broker refuses this client a transactional id (here: it holds as many as it may).
    //< transactions
    TransactionalIdAuthorizationFailed = 53,
    //< clients
    //> transactions
    /// Not tried because another part of the same request failed.
    OperationNotAttempted = 55,
    //< transactions
    //> ls8
    /// The log could not be written (disk full, I/O error).
    KafkaStorageError = 56,
    //< ls8
    //> groups
    /// The group still has members.
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    //< groups
    //> clients
    /// An incremental fetch named a fetch session this broker does not have.
    FetchSessionIdNotFound = 70,
    //< clients
    //> groups
    /// JoinGroup v4+: the broker hands out a member id and the member must rejoin with it.
    MemberIdRequired = 79,
    /// A static member whose instance id is held by another member id.
    FencedInstanceId = 82,
    //< groups
    //> zf2
    /// Intact record batches that a produce may not carry: none or several for one partition,
    /// or a record count that does not match the batch's offsets.
    InvalidRecord = 87,
    //< zf2
    //> transactions
    /// OffsetFetch with `require_stable`: a transaction holds uncommitted offsets for it.
    UnstableOffsetCommit = 88,
    /// A newer producer with the same transactional id took over (InitProducerId bumped the
    /// epoch): this one must stop.
    ProducerFenced = 90,
    /// DescribeTransactions: this coordinator has no such transactional id.
    TransactionalIdNotFound = 105,
    //< transactions
    //> dh6
    /// A topic id this broker does not know.
    UnknownTopicId = 100,
    //< dh6
}

impl ErrorCode {
    pub fn code(self) -> i16 {
        self as i16
    }
}
