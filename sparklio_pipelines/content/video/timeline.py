"""What is written on screen, where and when: the record a render leaves for caption layout and checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sparklio_pipelines.content.video.formats import Box


@dataclass(frozen=True)
class ScreenText:
    slide: int  # 1-based slide number
    role: str  # "headline" (drawn by the render) or a creative's text role: headline, cta, brand
    text: str
    box: Box
    start_s: float
    end_s: float


@dataclass
class VideoLayout:
    format: str
    size: tuple[int, int]
    safe_area: Box
    caption_zone: Box
    caption_px: int
    duration_s: float
    slide_starts_s: list[float] = field(default_factory=list)
    texts: list[ScreenText] = field(default_factory=list)

    def slide_at(self, t: float) -> int:
        """1-based number of the slide fully on screen (or fading in) at `t`."""
        return sum(1 for start in self.slide_starts_s if start <= t) or 1

    def texts_during(self, start_s: float, end_s: float) -> list[ScreenText]:
        return [text for text in self.texts if text.start_s < end_s and start_s < text.end_s]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["size"], data["safe_area"], data["caption_zone"] = list(self.size), list(self.safe_area), list(self.caption_zone)
        for text in data["texts"]:
            text["box"] = list(text["box"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "VideoLayout":
        texts = [ScreenText(**{**t, "box": tuple(t["box"])}) for t in data.get("texts", [])]
        return cls(format=data["format"], size=tuple(data["size"]), safe_area=tuple(data["safe_area"]),
                   caption_zone=tuple(data["caption_zone"]), caption_px=int(data["caption_px"]),
                   duration_s=float(data["duration_s"]), slide_starts_s=list(data.get("slide_starts_s", [])),
                   texts=texts)


def boxes_overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
