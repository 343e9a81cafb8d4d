"""The one way heavy work leaves the GUI thread: a JobRunner, its worker thread, and the
rule that the latest request wins.

Every job carries an id per kind ("forward", "train", "saliency", ...). Submitting a job of
a kind (or ``cancel(kind)``) makes every older job of that kind stale: the worker skips a
stale job before it starts, the job itself asks ``should_stop()`` between steps (a forward
pass between layers, training between steps), and a result, failure or progress report whose
id is not the latest of its kind is dropped on the GUI thread.

A job is a function ``fn(job) -> result`` run on the worker thread. It must only read the
snapshot it was given (never the live document) and may call ``job.report(payload)`` to send
progress back (delivered as ``progress(kind, payload)`` on the GUI thread, stale ones dropped).

The window has three runners of this one kind, a thread each: the live forward passes,
training (one long job per run), and the other jobs (the Understand panels', ONNX import and
the exports), so a training run never holds the maps or a saliency map back.
"""

from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass

from convscope.core import ConvScopeError
from convscope.core.network import Cancelled
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

SWITCH_INTERVAL_S = 0.0005  # Python's thread switch interval while the app runs


@dataclass
class Job:
    id: int
    kind: str
    fn: object  # fn(job) -> result
    is_latest: object  # (kind, id) -> bool, from the runner
    send: object  # (kind, id, payload) -> None, from the runner

    def should_stop(self) -> bool:
        """True once a newer job of this kind was submitted or the kind was cancelled."""
        return not self.is_latest(self.kind, self.id)

    def report(self, payload) -> None:
        self.send(self.kind, self.id, payload)


class JobWorker(QObject):
    """Lives on the worker thread: runs one job at a time, reports by signals."""

    started = Signal(str, int)  # kind, id
    done = Signal(str, int, object)  # kind, id, result
    failed = Signal(str, int, str)  # kind, id, one-line reason
    cancelled = Signal(str, int)
    progress = Signal(str, int, object)  # kind, id, payload

    @Slot(object)
    def run(self, job: Job) -> None:
        if job.should_stop():
            self.cancelled.emit(job.kind, job.id)
            return
        self.started.emit(job.kind, job.id)
        try:
            result = job.fn(job)
        except Cancelled:
            self.cancelled.emit(job.kind, job.id)
        except ConvScopeError as err:
            self.failed.emit(job.kind, job.id, str(err))
        except MemoryError:
            self.failed.emit(job.kind, job.id, "not run: it ran out of memory; make the "
                                               "input, the batch or the layers smaller")
        except Exception as err:  # a bug must not take the window down with it
            traceback.print_exc()
            self.failed.emit(job.kind, job.id, f"failed: {type(err).__name__}: {err}")
        else:
            self.done.emit(job.kind, job.id, result)


class JobRunner(QObject):
    """The GUI-thread side: submits jobs, relays the latest results, drops stale ones."""

    finished = Signal(str, object)  # kind, result (latest jobs only)
    failed = Signal(str, str)  # kind, message
    cancelled = Signal(str)  # the latest job of a kind stopped itself
    started = Signal(str, int)  # kind, id: a job began on the worker
    stopped = Signal(str, int)  # kind, id: any job that ended early (stale or cancelled)
    progress = Signal(str, object)  # kind, payload
    busyChanged = Signal(str, bool)  # kind, busy
    requested = Signal(object)  # Job, to the worker (queued)

    def __init__(self, parent=None, name: str = "convscope-jobs"):
        super().__init__(parent)
        # A worker in a loop of Qt calls (which hold Python's lock) kept the GUI thread
        # waiting for the lock: at Python's 5 ms switch interval the window froze for
        # 0.1-0.3 s while a picture was scaled to 10000×10000 in bands of 4 ms; at 0.5 ms,
        # not at all. The interval only matters while two threads want the lock.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()  # ids are read on the worker thread
        self._next_id = 0
        self.busy: set[str] = set()
        self.dropped = 0  # results that arrived stale and were never shown
        self.thread = QThread(self)
        self.thread.setObjectName(name)
        self.worker = JobWorker()
        self.worker.moveToThread(self.thread)
        queued = Qt.ConnectionType.QueuedConnection
        self.requested.connect(self.worker.run, queued)
        self.worker.started.connect(self.started, queued)
        self.worker.done.connect(self._done, queued)
        self.worker.failed.connect(self._failed, queued)
        self.worker.cancelled.connect(self._cancelled, queued)
        self.worker.progress.connect(self._progress, queued)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # never leave the thread running when the app quits
            app.aboutToQuit.connect(self.close)

    # ------------------------------------------------------------------ ids
    def is_latest(self, kind: str, job_id: int) -> bool:
        with self._lock:
            return self._latest.get(kind) == job_id

    def _new_id(self, kind: str) -> int:
        with self._lock:
            self._next_id += 1
            self._latest[kind] = self._next_id
            return self._next_id

    # ------------------------------------------------------------------ requests
    def submit(self, kind: str, fn) -> int:
        """Queue ``fn(job)`` on the worker thread; older jobs of ``kind`` become stale.
        Returns the job's id (-1 once the runner is closed)."""
        if self.thread is None:
            return -1
        job = Job(self._new_id(kind), kind, fn, self.is_latest, self.worker.progress.emit)
        self._set_busy(kind, True)
        self.requested.emit(job)
        return job.id

    def cancel(self, kind: str) -> int:
        """Make every job of ``kind`` stale: a running one stops at its next check.
        Returns the new latest id (one no job has: work done here under it is current)."""
        job_id = self._new_id(kind)
        self._set_busy(kind, False)
        return job_id

    def close(self) -> None:
        if self.thread is None:
            return
        for kind in list(self._latest):
            self._new_id(kind)
        self.thread.quit()
        self.thread.wait()
        self.thread = None

    # ------------------------------------------------------------------ results
    @Slot(str, int, object)
    def _done(self, kind, job_id, result):
        if not self.is_latest(kind, job_id):
            self.dropped += 1
            return
        self._set_busy(kind, False)
        self.finished.emit(kind, result)

    @Slot(str, int, str)
    def _failed(self, kind, job_id, message):
        if self.is_latest(kind, job_id):
            self._set_busy(kind, False)
            self.failed.emit(kind, message)

    @Slot(str, int)
    def _cancelled(self, kind, job_id):
        self.stopped.emit(kind, job_id)
        if self.is_latest(kind, job_id):  # cancelled by itself (its own check), not replaced
            self._set_busy(kind, False)
            self.cancelled.emit(kind)

    @Slot(str, int, object)
    def _progress(self, kind, job_id, payload):
        if self.is_latest(kind, job_id):
            self.progress.emit(kind, payload)

    def _set_busy(self, kind: str, busy: bool) -> None:
        if busy == (kind in self.busy):
            return
        (self.busy.add if busy else self.busy.discard)(kind)
        self.busyChanged.emit(kind, busy)
