"""What HTTP handlers may call in the subscriptions context (External).

`SubscriptionsExternal` (`subscriptions`) reads and manages subscriptions (`management`),
and carries the plans and customers services (`catalog`). Worker operations live in
`domain.subscriptions.internal`, which the gateway cannot import.
"""
