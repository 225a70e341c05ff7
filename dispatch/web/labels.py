"""Order statuses in the words patients and staff read: Bahasa Indonesia first, English available."""

from __future__ import annotations

from dispatch.orders.state_machine import OrderStatus

S = OrderStatus

STATUS_LABELS: dict[str, dict[OrderStatus, str]] = {
    "id": {
        S.RECEIVED: "Resep diterima",
        S.REJECTED: "Tidak dapat diantar",
        S.AWAITING_RELEASE: "Menunggu verifikasi apoteker",
        S.RELEASED: "Obat sedang disiapkan",
        S.NEEDS_ADDRESS: "Alamat perlu dipastikan",
        S.READY: "Siap dikirim",
        S.BOOKING: "Mencari kurir",
        S.COURIER_ASSIGNED: "Kurir menuju rumah sakit",
        S.PICKED_UP: "Obat dalam perjalanan",
        S.DELIVERED: "Obat sudah diterima",
        S.DELIVERY_FAILED: "Pengantaran gagal",
        S.RETURNED: "Obat kembali ke farmasi",
        S.NO_COURIER: "Kurir belum tersedia, petugas akan menghubungi",
        S.CANCELLED: "Pengantaran dibatalkan",
    },
    "en": {
        S.RECEIVED: "Prescription received",
        S.REJECTED: "Cannot be delivered",
        S.AWAITING_RELEASE: "Waiting for pharmacist verification",
        S.RELEASED: "Medicine being prepared",
        S.NEEDS_ADDRESS: "Address needs confirming",
        S.READY: "Ready to send",
        S.BOOKING: "Finding a courier",
        S.COURIER_ASSIGNED: "Courier on the way to the hospital",
        S.PICKED_UP: "Medicine on the way",
        S.DELIVERED: "Medicine received",
        S.DELIVERY_FAILED: "Delivery failed",
        S.RETURNED: "Medicine returned to the pharmacy",
        S.NO_COURIER: "No courier yet; staff will contact you",
        S.CANCELLED: "Delivery cancelled",
    },
}


def status_label(status: OrderStatus | str, lang: str = "id") -> str:
    labels = STATUS_LABELS.get(lang, STATUS_LABELS["id"])
    return labels[OrderStatus(status)]
