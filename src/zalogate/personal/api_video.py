"""`VideoApi`: a video Zalo shows as a video (zca-js 2.2.0 ``sendVideo``).

Zalo does not take the video's bytes here: the message carries the URL of a video that is
already hosted somewhere public (and of its thumbnail); each recipient's app fetches it. A
video with no public URL goes out as a file instead (`UploadApi.send_file`).
"""

from __future__ import annotations

from dataclasses import dataclass

from zalogate.personal.api_base import ApiBase
from zalogate.personal.crypto import compact_json
from zalogate.personal.errors import ConfigurationError
from zalogate.personal.outgoing import SentMessage
from zalogate.personal.session import ThreadType

__all__ = ["HostedVideo", "VideoApi"]


@dataclass(frozen=True, slots=True)
class HostedVideo:
    """A video at a public URL; the defaults are zca-js's (1280x720, duration 0)."""

    url: str
    size: int
    thumbnail_url: str | None = None
    duration_ms: int = 0
    width: int = 1280
    height: int = 720
    caption: str = ""


class VideoApi(ApiBase):
    """Video sends."""

    async def send_video(
        self,
        thread_id: str,
        video: HostedVideo,
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Send ``video`` (its URL, thumbnail, size, duration) to a user or a group.

        Raises:
            ConfigurationError: the URL is not http(s).
        """
        if not video.url.lower().startswith(("http://", "https://")):
            raise ConfigurationError("a video message needs the http(s) URL of a hosted video")
        group = self._is_group(thread_type)
        client_id = self._client_id()
        info = {
            "videoUrl": video.url,
            "thumbUrl": video.thumbnail_url,
            "duration": video.duration_ms,
            "width": video.width,
            "height": video.height,
            "fileSize": video.size,
            "properties": {
                "color": -1,
                "size": -1,
                "type": 1003,
                "subType": 0,
                "ext": {"sSrcType": -1, "sSrcStr": "", "msg_warning_type": 0},
            },
            "title": video.caption,
        }
        # JSON.stringify leaves out an undefined thumbUrl.
        msg_info = compact_json({k: v for k, v in info.items() if v is not None})
        target = {"grid": thread_id, "visibility": 0} if group else {"toId": thread_id}
        params = {
            **target,
            "clientId": str(client_id),
            "ttl": ttl_ms,
            "zsource": 704,
            "msgType": 5,
            "msgInfo": msg_info,
            "imei": self.session.imei,
        }
        path = "/api/group/forward" if group else "/api/message/forward"
        result = await self.http.call("POST", self._url("file", path), params)
        return self._sent(result, client_id, path)
