-- Secrets kept for CreateApiKey retries were XORed with a hash of the
-- request id, which is no secret. They are dropped: such a retry returns
-- the key without its secret; new ones are sealed with the gateway's
-- sealing key (see src/seal.rs).
UPDATE create_requests SET sealed_secret = '';
