"""The AgentCore Identity wire API over the reference service (one implementation, two
wire formats).

Amazon Bedrock AgentCore Identity clients (boto3's ``bedrock-agentcore`` and
``bedrock-agentcore-control``, and the ``bedrock-agentcore`` SDK) speak AWS restJson1 over
SigV4. This package maps every identity operation of those two services onto the same
directory, workload access tokens, vault, consent and audit log that serve the native
``/v1`` API:

- :mod:`.sigv4` verifies AWS Signature Version 4 against configured credentials;
- :mod:`.wire` encodes responses and errors the way botocore's ``RestJSONParser`` reads
  them;
- :mod:`.validation` enforces the model's lengths, patterns, enums and unions (botocore
  leaves them to the server) as ``ValidationException`` with ``reason`` and ``fieldList``;
- :mod:`.arns` builds the ARNs the AWS service returns;
- :mod:`.control` and :mod:`.data` are the operations; :mod:`.routes` mounts them.
"""
