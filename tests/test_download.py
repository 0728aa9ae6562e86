"""`download-images` against a local HTTP server that times out, fails, truncates and lies."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from vinylprice.catalog.download import DownloadPolicy, download_images, safe_file_name
from vinylprice.embed import Embedder
from vinylprice.images import load_image
from vinylprice.store import Album, Database, Listing, ReferenceImage, open_database

FAST = DownloadPolicy(concurrency=4, retries=3, timeout_s=0.5, backoff_s=0.01)


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


# One behaviour per request, in order; the last one repeats.
Step = Callable[[BaseHTTPRequestHandler], None]


def serve(body: bytes, content_type: str = "image/png") -> Step:
    def step(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return step


def fail(status: int) -> Step:
    def step(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return step


def stall(seconds: float) -> Step:
    def step(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        handler.close_connection = True
    return step


def truncate(body: bytes) -> Step:
    def step(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True
    return step


class FaultyServer:
    """A threaded HTTP server playing a script of responses per path and counting requests."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Step]] = {}
        self.fallback: Callable[[str], Step | None] = lambda path: None
        self.hits: Counter[str] = Counter()
        self.proxied: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("http://"):
                    server.proxied.append(self.path)
                path = urlsplit(self.path).path
                server.hits[path] += 1
                script = server.scripts.get(path)
                if script:
                    step = script[min(server.hits[path], len(script)) - 1]
                else:
                    step = server.fallback(path) or fail(404)
                step(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    faulty = FaultyServer()
    faulty.thread.start()
    yield faulty
    faulty.httpd.shutdown()
    faulty.httpd.server_close()


def catalogue_with_listings(home: Path, urls: dict[str, bool]) -> Database:
    """A database with one album; each URL gets a listing, excluded when its value is False."""
    database = open_database(f"sqlite:///{home / 'catalogue.db'}")
    database.create_schema()
    with database.session() as session:
        album = Album(artist="Fleetwood Mac", title="Rumours")
        session.add(album)
        session.flush()
        for number, (url, eligible) in enumerate(urls.items()):
            session.add(Listing(
                source="ebay", external_id=str(number), title="Fleetwood Mac Rumours LP",
                price=20.0, image_url=url, album_id=album.id, excluded=not eligible,
                excluded_reason=None if eligible else "lot of several records",
            ))
    return database


def image_files(database: Database) -> dict[str, str | None]:
    with database.session() as session:
        return {row.image_url: row.image_file for row in session.scalars(select(Listing))}


def test_faulty_server_retries_what_is_transient_and_gives_up_on_the_rest(
    server: FaultyServer, tmp_path: Path
) -> None:
    image = png_bytes()
    server.scripts = {
        "/g/ok/s-l500.png": [serve(image)],
        "/g/flaky/s-l500.png": [fail(500), fail(503), serve(png_bytes((0, 90, 0)))],
        "/g/slow/s-l500.png": [stall(1.5), serve(png_bytes((0, 0, 90)))],
        "/g/cut/s-l500.png": [truncate(png_bytes((9, 9, 9))), serve(png_bytes((9, 9, 9)))],
        "/g/html/s-l500.png": [serve(b"<html>sign in</html>", "text/html")],
        "/g/garbage/s-l500.png": [serve(b"\x89PNG but not really")],
        "/g/down/s-l500.png": [fail(500)],
        "/g/gone/s-l500.png": [fail(404)],
        "/g/lot/s-l500.png": [serve(png_bytes((50, 50, 50)))],
    }
    urls = {server.url(path): "lot" not in path for path in server.scripts}
    database = catalogue_with_listings(tmp_path, urls)
    dest = tmp_path / "listings"

    report = download_images(database, dest, tmp_path / "references", FAST, progress=False)

    assert report.listings == 9
    assert report.downloaded == 5
    assert report.failed == Counter({"not an image (text/html)": 1, "unreadable image": 1,
                                     "HTTP 500": 1, "HTTP 404": 1})
    assert server.hits["/g/flaky/s-l500.png"] == 3
    assert server.hits["/g/slow/s-l500.png"] == 2
    assert server.hits["/g/cut/s-l500.png"] == 2
    assert server.hits["/g/html/s-l500.png"] == 1
    assert server.hits["/g/gone/s-l500.png"] == 1
    assert server.hits["/g/down/s-l500.png"] == FAST.retries + 1
    assert server.hits["/g/garbage/s-l500.png"] == FAST.retries + 1

    names = image_files(database)
    assert names[server.url("/g/ok/s-l500.png")] == "ok_s-l500.png"
    assert names[server.url("/g/gone/s-l500.png")] is None
    assert sorted(path.name for path in dest.iterdir()) == sorted(
        f"{folder}_s-l500.png" for folder in ("ok", "flaky", "slow", "cut", "lot")
    )
    assert all(load_image(path).size == (64, 64) for path in dest.iterdir())
    assert (dest / "ok_s-l500.png").read_bytes() == image

    # The lot is downloaded but, being excluded from its album, gives no reference image.
    assert report.references_added == 4
    with database.session() as session:
        references = session.scalars(select(ReferenceImage)).all()
    assert all(Path(reference.path).is_file() for reference in references)


def test_a_second_run_resumes_without_fetching_valid_files_again(
    server: FaultyServer, tmp_path: Path
) -> None:
    server.scripts = {f"/g/{n}/s-l500.png": [serve(png_bytes((n, 0, 0)))] for n in range(6)}
    database = catalogue_with_listings(tmp_path, {server.url(p): True for p in server.scripts})
    dest = tmp_path / "listings"
    download_images(database, dest, tmp_path / "references", FAST, progress=False)
    (dest / "3_s-l500.png").write_bytes(b"half a file")
    server.hits.clear()

    report = download_images(database, dest, tmp_path / "references", FAST, progress=False)

    assert (report.downloaded, report.already_present) == (1, 5)
    assert dict(server.hits) == {"/g/3/s-l500.png": 1}
    assert report.references_added == 0
    assert load_image(dest / "3_s-l500.png").size == (64, 64)


@pytest.mark.parametrize(
    "url",
    [
        "http://host/images/g/abc/s-l500.webp?width=500#x",
        "http://host/../../etc/passwd",
        "http://host/a/..%2F..%2F..%2Fescape.png",
        "http://host/a/%2e%2e",
        "http://host/a\\..\\..\\win.png",
        "http://host/",
        "http://host/.hidden/.bashrc",
        "http://host/x/" + "a" * 500 + ".jpg",
        "not a url at all",
        "http://host/ünï/cödé.png",
    ],
)
def test_file_names_from_urls_stay_inside_the_folder(url: str, tmp_path: Path) -> None:
    name = safe_file_name(url)

    assert name and not name.startswith(".")
    assert "/" not in name and "\\" not in name and len(name) <= 120
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_scraper_names_are_kept() -> None:
    url = "https://i.ebayimg.com/images/g/5ocAAOSwilxmMV~O/s-l1600.webp"

    assert safe_file_name(url) == "5ocAAOSwilxmMV~O_s-l1600.webp"


def test_hostile_url_writes_only_inside_the_images_folder(
    server: FaultyServer, tmp_path: Path
) -> None:
    server.fallback = lambda path: serve(png_bytes())
    (tmp_path / "db").mkdir()
    database = catalogue_with_listings(
        tmp_path / "db", {server.url("/a/..%2F..%2F..%2Fescape.png"): True}
    )
    dest = tmp_path / "deep" / "listings"

    report = download_images(database, dest, None, FAST, progress=False)

    written = [path for path in tmp_path.rglob("*") if path.is_file() and "db" not in path.parts]
    assert report.downloaded == 1
    assert [path.parent for path in written] == [dest]


def test_same_file_name_from_two_urls_gets_two_files(server: FaultyServer, tmp_path: Path) -> None:
    server.fallback = lambda path: serve(png_bytes((len(path), 0, 0)))
    database = catalogue_with_listings(
        tmp_path, {server.url("/one/g/x/s-l500.png"): True, server.url("/two/g/x/s-l500.png"): True}
    )

    report = download_images(database, tmp_path / "listings", None, FAST, progress=False)

    assert report.downloaded == 2
    assert len(set(image_files(database).values())) == 2


def test_proxy_comes_from_the_environment(
    server: FaultyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fallback = lambda path: serve(png_bytes())
    monkeypatch.setenv("HTTP_PROXY", server.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    database = catalogue_with_listings(tmp_path, {"http://images.example.invalid/g/p/1.png": True})

    report = download_images(database, tmp_path / "listings", None, FAST, progress=False)

    assert report.downloaded == 1
    assert server.proxied == ["http://images.example.invalid/g/p/1.png"]


def test_sample_listings_download_through_faults_and_feed_a_rebuild(
    server: FaultyServer, tmp_path: Path, sample_dir: Path, small_embedder: Embedder
) -> None:
    from vinylprice.catalog.ingest import ingest_file
    from vinylprice.rebuild import rebuild_index

    images = sample_dir / "images"
    served: Counter[str] = Counter()

    def sample_photo(path: str) -> Step | None:
        # eBay's /images/g/<id>/<file> is the sample's <id>_<file>; every third photo first
        # answers 503 and every fifth first stalls past the client's timeout.
        name = "_".join(path.split("/")[-2:])
        if not (images / name).is_file():
            return None
        served[name] += 1
        number = sorted(p.name for p in images.iterdir()).index(name)
        if served[name] == 1 and number % 3 == 0:
            return fail(503)
        if served[name] == 1 and number % 5 == 0:
            return stall(1.5)
        return serve((images / name).read_bytes(), "image/webp")

    server.fallback = sample_photo
    database = open_database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    database.create_schema()
    ingest_file(database, sample_dir / "ebay_json-vinyl.json", tmp_path / "references")
    with database.session() as session:
        session.execute(update(Listing).values(
            image_url=func.replace(Listing.image_url, "https://i.ebayimg.com", server.base)
        ))
        before = session.scalar(select(ReferenceImage.id).limit(1))
    assert before is None

    report = download_images(database, tmp_path / "listings", tmp_path / "references",
                             DownloadPolicy(concurrency=8, retries=2, timeout_s=0.5,
                                            backoff_s=0.01), progress=False)

    assert report.downloaded == len({n for n in served})
    assert report.downloaded >= 40
    assert set(report.failed) == {"HTTP 404"}
    assert report.references_added > 10
    rebuilt = rebuild_index(database, small_embedder, tmp_path / "builds", progress=False)
    assert rebuilt.images == report.references_added


def test_unreachable_hosts_stop_the_run_early(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    urls = {f"http://127.0.0.1:{closed_port}/g/{n}/s-l500.png": True for n in range(60)}
    database = catalogue_with_listings(tmp_path, urls)
    policy = DownloadPolicy(concurrency=2, retries=1, backoff_s=0.01, unreachable_after=6)

    report = download_images(database, tmp_path / "listings", None, policy, progress=False)

    assert report.downloaded == 0
    assert 6 <= report.failed["connection error"] < 12
    assert report.failed["skipped, image hosts unreachable"] == 60 - report.failed[
        "connection error"
    ]
    assert report.attempts == 2 * report.failed["connection error"]


def test_download_images_command_fills_the_data_home(
    server: FaultyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli import main

    server.scripts = {"/g/a/s-l500.png": [fail(503), serve(png_bytes())],
                      "/g/b/s-l500.png": [fail(404)]}
    catalogue_with_listings(tmp_path, {server.url(path): True for path in server.scripts})
    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path))
    monkeypatch.setenv("VINYLPRICE_DATABASE_URL", f"sqlite:///{tmp_path / 'catalogue.db'}")

    code = main(["download-images", "--no-progress", "--retries", "2", "--timeout", "2"])

    printed = capsys.readouterr().out
    assert code == 0
    assert "1 downloaded" in printed and "1 failed (1 HTTP 404)" in printed
    assert "reference images +1" in printed and "vinylprice rebuild" in printed
    assert (tmp_path / "images" / "listings" / "a_s-l500.png").is_file()
    assert len(list((tmp_path / "images" / "references").iterdir())) == 1
