"""A local fake of Cloud Monitoring's AlertPolicyService and NotificationChannelService.

google-cloud-monitoring has no REST transport, so this is a real gRPC server on 127.0.0.1
(generic handlers, the client library's own proto-plus types for (de)serialisation). It keeps
policies and channels in memory and records every request as a JSON-style dict (camelCase,
enum names) so tests assert exactly what the client sent. Point the pipeline at it with
vertex.monitoring_api_endpoint = server.target (the vertex_config fixture does).
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from itertools import count
from typing import Any

import grpc
from google.cloud.monitoring_v3.types import alert, alert_service, notification, notification_service
from google.protobuf import empty_pb2, json_format


@dataclass
class MonitoringCall:
    method: str
    request: dict[str, Any]


def _as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(type(message).pb(message))


class FakeMonitoringServer:
    def __init__(self) -> None:
        self.policies: dict[str, alert.AlertPolicy] = {}
        self.channels: dict[str, notification.NotificationChannel] = {}
        self.calls: list[MonitoringCall] = []
        self._ids = count(5001)
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeMonitoringServer:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((self._alert_handlers(), self._channel_handlers()))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [c.request for c in self.calls if c.method == method]

    # ---- handlers --------------------------------------------------------------------
    def _handler(self, method: str, request_type: Any, response_serializer: Any, fn: Any) -> Any:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.calls.append(MonitoringCall(method, _as_dict(request)))
                return fn(request, context)

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=request_type.deserialize,
            response_serializer=response_serializer)

    def _alert_handlers(self) -> grpc.GenericRpcHandler:
        policy_out = alert.AlertPolicy.serialize
        return grpc.method_handlers_generic_handler("google.monitoring.v3.AlertPolicyService", {
            "ListAlertPolicies": self._handler(
                "ListAlertPolicies", alert_service.ListAlertPoliciesRequest,
                alert_service.ListAlertPoliciesResponse.serialize, self._list_policies),
            "CreateAlertPolicy": self._handler(
                "CreateAlertPolicy", alert_service.CreateAlertPolicyRequest, policy_out,
                self._create_policy),
            "UpdateAlertPolicy": self._handler(
                "UpdateAlertPolicy", alert_service.UpdateAlertPolicyRequest, policy_out,
                self._update_policy),
            "DeleteAlertPolicy": self._handler(
                "DeleteAlertPolicy", alert_service.DeleteAlertPolicyRequest,
                empty_pb2.Empty.SerializeToString, self._delete_policy),
        })

    def _channel_handlers(self) -> grpc.GenericRpcHandler:
        service = "google.monitoring.v3.NotificationChannelService"
        return grpc.method_handlers_generic_handler(service, {
            "ListNotificationChannels": self._handler(
                "ListNotificationChannels", notification_service.ListNotificationChannelsRequest,
                notification_service.ListNotificationChannelsResponse.serialize,
                self._list_channels),
            "CreateNotificationChannel": self._handler(
                "CreateNotificationChannel",
                notification_service.CreateNotificationChannelRequest,
                notification.NotificationChannel.serialize, self._create_channel),
            "DeleteNotificationChannel": self._handler(
                "DeleteNotificationChannel",
                notification_service.DeleteNotificationChannelRequest,
                empty_pb2.Empty.SerializeToString, self._delete_channel),
        })

    # ---- alert policies --------------------------------------------------------------
    @staticmethod
    def _check_policy(policy: alert.AlertPolicy, context: grpc.ServicerContext) -> None:
        if not policy.display_name or not 1 <= len(policy.conditions) <= 6:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "an alert policy needs a display name and 1 to 6 conditions")
        for condition in policy.conditions:
            if "metric.type" not in condition.condition_threshold.filter:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "condition filter lacks metric.type")

    def _list_policies(self, request: Any, context: Any) -> Any:
        found = [p for n, p in self.policies.items() if n.startswith(request.name + "/")]
        return alert_service.ListAlertPoliciesResponse(alert_policies=found)

    def _create_policy(self, request: Any, context: Any) -> Any:
        self._check_policy(request.alert_policy, context)
        policy = alert.AlertPolicy(request.alert_policy)
        policy.name = f"{request.name}/alertPolicies/{next(self._ids)}"
        self.policies[policy.name] = policy
        return policy

    def _update_policy(self, request: Any, context: Any) -> Any:
        name = request.alert_policy.name
        if name not in self.policies:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        self._check_policy(request.alert_policy, context)
        self.policies[name] = alert.AlertPolicy(request.alert_policy)
        return self.policies[name]

    def _delete_policy(self, request: Any, context: Any) -> Any:
        if self.policies.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return empty_pb2.Empty()

    # ---- notification channels -------------------------------------------------------
    def _list_channels(self, request: Any, context: Any) -> Any:
        found = [c for n, c in self.channels.items() if n.startswith(request.name + "/")]
        return notification_service.ListNotificationChannelsResponse(notification_channels=found)

    def _create_channel(self, request: Any, context: Any) -> Any:
        channel = notification.NotificationChannel(request.notification_channel)
        if channel.type_ != "email" or "email_address" not in channel.labels:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "email channels need email_address")
        channel.name = f"{request.name}/notificationChannels/{next(self._ids)}"
        self.channels[channel.name] = channel
        return channel

    def _delete_channel(self, request: Any, context: Any) -> Any:
        in_use = any(request.name in p.notification_channels for p in self.policies.values())
        if in_use and not request.force:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "channel is used by a policy")
        if self.channels.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return empty_pb2.Empty()
