-- Governance (policies and policy sets are rows of `entities`, kinds governance_policy and
-- policy_set). Which policy sets name a policy: a delete of a policy in use is refused.
CREATE INDEX entities_policy_set_policies ON entities USING gin ((body->'policies') jsonb_path_ops)
    WHERE kind = 'policy_set';
