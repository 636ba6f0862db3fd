"""The download column's delegate: a button while results wait, a progress bar while they come.

It paints what the model's `Role.DOWNLOAD` cell says (a `DownloadCell`) with the current style,
so it follows the light/dark palette, and turns one click on a button cell into
`download_requested(job_id)`, on a paused cell's Resume button into `resume_requested(job_id)`.
No widgets per row: painting only, cheap for big tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QEvent, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtCore import Signal as _Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from jobdock.qt.job_model import CellKind, DownloadCell, Role

Index = QModelIndex | QPersistentModelIndex
MARGIN = 3


def button_rect(cell: QRect) -> QRect:
    return cell.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)


def progress_layout(area: QRect, line_height: int) -> tuple[QRect, QRect]:
    """A download's bar and its text side by side in `area`: the bar takes a third (at least
    40 px), the text (percent, speed, time left; elided to fit) the rest, so they never overlap.
    The bar is at most a line high and centred, whatever the row height."""
    bar_width = max(40, area.width() // 3)
    height = min(area.height(), max(8, line_height))
    top = area.top() + (area.height() - height) // 2
    bar = QRect(area.left(), top, min(bar_width, area.width()), height)
    text = QRect(bar.right() + 1 + 2 * MARGIN, area.top(),
                 max(0, area.right() - bar.right() - 2 * MARGIN), area.height())  # fmt: skip
    return bar, text


RESUME = "Resume"


def paused_layout(area: QRect, button_width: int) -> tuple[QRect, QRect]:
    """A paused download's text and its Resume button side by side in `area`: the button at
    the right, as wide as its label needs (at most half the cell), the text the rest."""
    width = min(button_width, area.width() // 2)
    button = QRect(area.right() - width + 1, area.top(), width, area.height())
    text = QRect(area.left(), area.top(), max(0, area.width() - width - 2 * MARGIN), area.height())
    return text, button


def _resume_width(option: QStyleOptionViewItem) -> int:
    return option.fontMetrics.horizontalAdvance(RESUME) + 6 * MARGIN


def fitting_text(texts: Sequence[str], width: int, measure: Callable[[str], int]) -> str:
    """The first of `texts` (best first) whose `measure` fits in `width`, else the last (the
    painter elides it)."""
    for text in texts:
        if measure(text) <= width:
            return text
    return texts[-1]


def _draw_text(painter: QPainter, option: QStyleOptionViewItem, rect: QRect, text: str) -> None:
    """A line of the cell's text in `rect`, elided to fit, in the row's text colour."""
    shown = option.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
    painter.save()
    painter.setPen(option.palette.color(_text_role(option)))
    painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shown)
    painter.restore()


def _text_role(option: QStyleOptionViewItem) -> QPalette.ColorRole:
    if option.state & QStyle.StateFlag.State_Selected:
        return QPalette.ColorRole.HighlightedText
    return QPalette.ColorRole.Text


class DownloadDelegate(QStyledItemDelegate):
    download_requested = _Signal(str)
    resume_requested = _Signal(str)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        cell: DownloadCell | None = index.data(Role.DOWNLOAD.value)
        if cell is None or cell.kind in (CellKind.NONE, CellKind.DONE):
            super().paint(painter, option, index)
            return
        # the row's selection background first, then the control on top
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""
        style = _style(option)
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, option.widget)
        if cell.kind == CellKind.PROGRESS:
            self._paint_progress(painter, option, cell, style)
        elif cell.kind == CellKind.PAUSED:
            self._paint_paused(painter, option, cell, style)
        else:
            self._paint_button(painter, option, cell, style)

    def _paint_progress(
        self, painter: QPainter, option: QStyleOptionViewItem, cell: DownloadCell, style: QStyle
    ) -> None:
        area = button_rect(option.rect)
        bar_rect, text_rect = progress_layout(area, option.fontMetrics.height())
        bar = QStyleOptionProgressBar()
        bar.rect = bar_rect
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.minimum = 0
        bar.maximum = 1000 if cell.fraction is not None else 0  # 0..0: busy indicator
        bar.progress = round((cell.fraction or 0.0) * 1000)
        bar.textVisible = False  # the text goes beside the bar, never over it
        bar.palette = option.palette
        bar.fontMetrics = option.fontMetrics
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)
        text = fitting_text((cell.text, *cell.shorter), text_rect.width(),
                            option.fontMetrics.horizontalAdvance)  # fmt: skip
        _draw_text(painter, option, text_rect, text)

    def _paint_paused(
        self, painter: QPainter, option: QStyleOptionViewItem, cell: DownloadCell, style: QStyle
    ) -> None:
        text_rect, button = paused_layout(button_rect(option.rect), _resume_width(option))
        _draw_text(painter, option, text_rect, cell.text)
        self._paint_button(painter, option, DownloadCell(CellKind.BUTTON, RESUME), style, button)

    def _paint_button(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        cell: DownloadCell,
        style: QStyle,
        rect: QRect | None = None,
    ) -> None:
        button = QStyleOptionButton()
        button.rect = rect if rect is not None else button_rect(option.rect)
        button.text = cell.text
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        if option.state & QStyle.StateFlag.State_MouseOver:
            button.state |= QStyle.StateFlag.State_MouseOver
        button.palette = option.palette
        button.fontMetrics = option.fontMetrics
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, option.widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> Any:
        hint = super().sizeHint(option, index)
        hint.setWidth(max(hint.width(), 170))
        hint.setHeight(max(hint.height(), option.fontMetrics.height() + 4 * MARGIN))
        return hint

    def editorEvent(
        self, event: QEvent, model: QAbstractItemModel, option: QStyleOptionViewItem, index: Index
    ) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease:
            return super().editorEvent(event, model, option, index)
        cell: DownloadCell | None = index.data(Role.DOWNLOAD.value)
        if not isinstance(event, QMouseEvent) or event.button() != Qt.MouseButton.LeftButton:
            return False
        point = event.position().toPoint()
        if cell is not None and cell.kind == CellKind.PAUSED:
            _, button = paused_layout(button_rect(option.rect), _resume_width(option))
            if not button.contains(point):
                return False
            self.resume_requested.emit(index.data(Role.JOB_ID.value))
            return True
        if cell is None or cell.kind != CellKind.BUTTON:
            return False
        if not button_rect(option.rect).contains(point):
            return False
        self.download_requested.emit(index.data(Role.JOB_ID.value))
        return True


def _style(option: QStyleOptionViewItem) -> QStyle:
    widget = option.widget
    return widget.style() if widget is not None else QApplication.style()
